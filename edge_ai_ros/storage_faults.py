"""Name a file-system fault as what it is: the OS error, the path, and what to do about it.

A full disk in the middle of a build shows up in strange places: ONNX Runtime reports a
protobuf it could not serialise, OpenVINO an iostream error. Before such an error is
reported as a model problem, the folder that was being written is examined: read-only, not
writable, or without room for the artifact means the OS is the cause, and the error says so.
"""

from __future__ import annotations

import contextlib
import errno as errno_codes
import os
import uuid
from pathlib import Path

from edge_ai_ros.errors import StorageError

#: OS errors that are the storage's fault, never the model's
STORAGE_ERRNOS = frozenset({errno_codes.ENOSPC, errno_codes.EDQUOT, errno_codes.EROFS, errno_codes.EACCES,
                            errno_codes.EPERM})
_PROBE_MAX_BYTES = 1 << 20


def _remedy(code: int | None, path: Path) -> str:
    if code in (errno_codes.ENOSPC, errno_codes.EDQUOT):
        return f"free space on the file system holding {path}, or point --cache-dir/--out at a larger one"
    if code == errno_codes.EROFS:
        return f"{path} is on a read-only file system; remount it read-write or use another --cache-dir/--out"
    if code in (errno_codes.EACCES, errno_codes.EPERM):
        return f"give this user write access to {path}, or use another --cache-dir/--out"
    return "check the file system and the path"


def storage_error(err: OSError, path: str | os.PathLike[str]) -> StorageError:
    """A StorageError quoting the OS error (name, text) and the path, with the remedy for that errno."""
    where = Path(path)
    name = errno_codes.errorcode.get(err.errno or 0, "OSError")
    return StorageError(f"{name}: {err.strerror or err} writing {where}", errno=err.errno, path=str(where),
                        fix=_remedy(err.errno, where))


def is_storage_fault(err: BaseException) -> bool:
    return isinstance(err, OSError) and err.errno in STORAGE_ERRNOS


def diagnose(folder: Path, *, needed_bytes: int = 0) -> StorageError | None:
    """The storage fault that stops writes into ``folder`` (read-only, no access, full), or None.

    ``needed_bytes`` is how much the interrupted write needed at least (the artifact's size): a
    file system with less free space is reported full even if a small probe still fits.
    """
    try:
        stats = os.statvfs(folder)
    except OSError as err:
        return storage_error(err, folder) if is_storage_fault(err) else None
    free = stats.f_bavail * stats.f_frsize
    if stats.f_flag & os.ST_RDONLY:
        return storage_error(OSError(errno_codes.EROFS, os.strerror(errno_codes.EROFS), str(folder)), folder)
    if free < max(needed_bytes, 1):
        full = OSError(errno_codes.ENOSPC, os.strerror(errno_codes.ENOSPC), str(folder))
        fault = storage_error(full, folder)
        return StorageError(f"{fault.message} ({free} bytes free, at least {needed_bytes} needed)",
                            errno=fault.errno, path=fault.path, fix=fault.fix)
    return _probe(folder, min(max(needed_bytes, 1), _PROBE_MAX_BYTES))


def _probe(folder: Path, size: int) -> StorageError | None:
    probe = folder / f".space-probe.{uuid.uuid4().hex}"
    try:
        with open(probe, "wb") as handle:
            handle.write(b"\0" * size)
            handle.flush()
            os.fsync(handle.fileno())
    except OSError as err:
        return storage_error(err, folder) if is_storage_fault(err) else None
    finally:
        with contextlib.suppress(OSError):  # a probe that cannot be removed changes no diagnosis
            probe.unlink()
    return None
