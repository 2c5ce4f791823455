"""Atomic file writes, content hashes and an inter-process lock.

A crash or a full disk must never leave a half-written engine, manifest or report where
a reader would take it for a whole one: write to a temporary file beside the target,
fsync, then rename (atomic on POSIX within one file system).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from edge_ai_ros.errors import EdgeAiError

_CHUNK = 1 << 20


def _read_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# What open() would have given (mkstemp gives 0o600, unreadable to other users). Read once at
# import: os.umask can only be read by setting it, which races with other threads.
_UMASK = _read_umask()
_FILE_MODE = 0o666 & ~_UMASK
#: what mkdir would have given a folder (mkdtemp gives 0o700, unreadable to other users)
DIR_MODE = 0o777 & ~_UMASK


def file_sha256(path: str | os.PathLike[str]) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def bytes_sha256(data: bytes | memoryview) -> str:
    return hashlib.sha256(data).hexdigest()


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes | memoryview) -> Path:
    """Write ``data`` to ``path`` so that readers see the old file or the new one, never half."""
    target = Path(path)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    except OSError as err:
        raise _write_error(err, target) from err
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            os.fchmod(handle.fileno(), _FILE_MODE)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, target)
    except OSError as err:
        with contextlib.suppress(OSError):
            os.unlink(tmp_name)
        raise _write_error(err, target) from err
    return target


def _write_error(err: OSError, target: Path) -> EdgeAiError:
    """The OS error named with its path and remedy when the storage is at fault (storage_faults.py)."""
    from edge_ai_ros.storage_faults import is_storage_fault, storage_error

    if is_storage_fault(err):
        return storage_error(err, target)
    return EdgeAiError(f"cannot write {target}: {err.strerror}", fix="choose a writable directory with free space")


def atomic_write_text(path: str | os.PathLike[str], text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


@contextlib.contextmanager
def atomic_output_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path for a tool that writes a file itself; rename on success only."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=target.suffix, dir=target.parent)
    os.fchmod(fd, _FILE_MODE)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        os.replace(tmp, target)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


@contextlib.contextmanager
def atomic_output_dir(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield an empty staging folder beside ``path`` to fill; on success it takes the place of ``path``
    (the old folder is removed only after), on failure it is removed and ``path`` stays as it was."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=f".{target.name}.partial-", dir=target.parent))
    stage.chmod(0o755)  # mkdtemp makes it private; the result is an ordinary folder
    try:
        yield stage
        old = None
        if target.exists():
            old = target.with_name(f".{target.name}.old-{stage.name[-8:]}")
            target.rename(old)
        stage.rename(target)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(stage, ignore_errors=True)  # gone already after a success


@contextlib.contextmanager
def file_lock(path: str | os.PathLike[str], timeout_s: float = 600.0) -> Iterator[None]:
    """Hold an exclusive advisory lock on ``path`` (created if missing) across processes."""
    lock_path = Path(path)
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "a+b") as handle:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise EdgeAiError(
                        f"timed out after {timeout_s:.0f} s waiting for lock {lock_path}",
                        fix="another build of the same engine is running; wait for it or remove a stale lock",
                    ) from None
                time.sleep(0.05)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
