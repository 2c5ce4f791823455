"""Content-addressed engine cache: ``<root>/<key[:2]>/<key>/`` holds one artifact and its manifest.

An entry appears whole or not at all: it is built in a private staging folder and moved
into place with one rename, under a per-key lock, so two builds of the same key never
interleave. An entry whose manifest does not match its artifact files, the key, or this
machine is reported by name and rebuilt, never loaded.

Entry folders get the mode ``mkdir`` would give them (0755 under the usual umask 022), like
the files inside, so a node running as another user can read an engine a build step made.
A build killed at any point leaves only ``staging/<key>.*`` debris; the next build removes
every staging folder whose build is over: a folder's build is over when no process holds its
key's lock (the lock lives exactly as long as the build), or, for a folder whose key cannot be
read from its name, when it is older than ``ORPHAN_STAGING_S``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from edge_ai_ros.atomic_io import DIR_MODE, atomic_write_bytes, file_lock
from edge_ai_ros.errors import CompileError, EdgeAiError, ManifestError, StorageError
from edge_ai_ros.host import check_host_record
from edge_ai_ros.manifest import ModelManifest, load_manifest, manifest_path_for, verify_artifact
from edge_ai_ros.storage_faults import storage_error

LOG = logging.getLogger(__name__)
KEY_LENGTH = 64
ORPHAN_STAGING_S = 24 * 3600.0  # a staging folder not named after a key is debris after a day


@dataclass(frozen=True, kw_only=True)
class CacheEntry:
    key: str
    artifact: Path
    manifest_path: Path
    manifest: ModelManifest


def check_manifest_matches(
    manifest: ModelManifest, manifest_file: Path, *, key: str, backend_version: str, device: str,
) -> None:
    """Raise ManifestError naming the first field where an entry differs from what is wanted."""
    verify_artifact(manifest, manifest_file)
    check_host_record(manifest.host, f"cached engine {manifest_file}")  # never reuse one built for other CPU features
    wanted = {"build.cache_key": key, "backend_version": backend_version, "device": device}
    found = {
        "build.cache_key": str(manifest.build.get("cache_key", "")),
        "backend_version": manifest.backend_version,
        "device": manifest.device,
    }
    for name, value in wanted.items():
        if found[name] != value:
            raise ManifestError(
                f"cached engine {manifest_file} was built for {name}={found[name]!r}, this build needs {value!r}",
                fix="it will be rebuilt; delete the entry if this repeats",
            )


class EngineCache:
    """A folder of built engines addressed by cache key."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)

    def entry_dir(self, key: str) -> Path:
        return self.root / key[:2] / key

    def ensure_writable(self) -> None:
        """Fail before any work if the cache folder cannot take a file (missing rights, not a folder, full)."""
        try:
            # a name of its own: concurrent builds (threads or processes) must not unlink each other's probe
            probe = atomic_write_bytes(self.root / f".write-probe.{uuid.uuid4().hex}", b"ok")
            probe.unlink()
        except StorageError:
            raise  # already names the OS error, the path and the remedy
        except (EdgeAiError, OSError) as err:
            raise CompileError(
                f"cache directory {self.root} is not writable: {err}",
                fix="pass --cache-dir with a writable folder that has free space",
            ) from err

    def lock_path(self, key: str) -> Path:
        return self.root / "locks" / f"{key}.lock"

    @contextlib.contextmanager
    def locked(self, key: str, timeout_s: float = 1800.0) -> Iterator[None]:
        """Hold the per-key lock: a second build of the same key waits, then finds the first's entry."""
        with file_lock(self.lock_path(key), timeout_s=timeout_s):
            yield

    def lookup(self, key: str, *, backend_version: str, device: str) -> CacheEntry | None:
        """The valid entry for ``key``, or None (a mismatching entry is logged with the reason)."""
        folder = self.entry_dir(key)
        manifests = sorted(folder.glob("*.manifest.json")) if folder.is_dir() else []
        if not manifests:
            return None
        try:
            manifest = load_manifest(manifests[0])
            check_manifest_matches(manifest, manifests[0], key=key, backend_version=backend_version, device=device)
        except ManifestError as err:
            LOG.warning("cache entry %s is unusable and will be rebuilt: %s", folder, err)
            return None
        with contextlib.suppress(OSError):  # last use, for 'edge-ai-ros cache prune' (read-only caches skip it)
            os.utime(folder)
        artifact = (manifests[0].parent / manifest.artifact.path).resolve()
        return CacheEntry(key=key, artifact=artifact, manifest_path=manifests[0], manifest=manifest)

    @contextlib.contextmanager
    def staging(self, key: str) -> Iterator[Path]:
        """A private folder to build into (call with the key's lock held); removed afterwards.

        Debris of earlier builds is swept first. A failure to remove the folder is logged and
        noted on the build's own error, never raised in its place.
        """
        base = self.root / "staging"
        try:
            base.mkdir(parents=True, exist_ok=True)
            sweep_staging(self, own_key=key)
            folder = Path(tempfile.mkdtemp(prefix=f"{key}.", dir=base))
        except OSError as err:
            raise storage_error(err, base) from err
        try:
            yield folder
        except BaseException as err:
            problem = _remove_tree(folder)
            if problem:
                err.add_note(f"cleanup also failed: {problem}")
            raise
        problem = _remove_tree(folder)
        if problem:
            LOG.error("the build succeeded but its staging folder was not removed: %s", problem)

    def commit(self, key: str, staged: Path, artifact_name: str) -> CacheEntry:
        """Move a staged folder (artifact + manifest) into place with one rename, replacing a stale entry."""
        final = self.entry_dir(key)
        try:
            self._move_into_place(key, staged, final)
        except OSError as err:
            raise storage_error(err, final) from err
        manifest_file = manifest_path_for(final / artifact_name)
        return CacheEntry(
            key=key, artifact=final / artifact_name, manifest_path=manifest_file, manifest=load_manifest(manifest_file),
        )

    def _move_into_place(self, key: str, staged: Path, final: Path) -> None:
        final.parent.mkdir(parents=True, exist_ok=True)
        if final.exists():
            trash = Path(tempfile.mkdtemp(prefix=f"{key}.old.", dir=self.root / "staging"))
            os.replace(final, trash / "entry")
            problem = _remove_tree(trash)
            if problem:
                LOG.error("the replaced entry was not removed (the next build sweeps it): %s", problem)
        os.chmod(staged, DIR_MODE)  # mkdtemp made it 0700; an entry is readable like its files
        _fsync_dir(staged)
        os.replace(staged, final)
        _fsync_dir(final.parent)


def _remove_tree(folder: Path) -> str:
    """Remove ``folder``; '' when gone, else what stopped it (reported by the caller, never raised)."""
    failures: list[str] = []

    def record(function: object, path: str, exc_info: tuple[type[BaseException], BaseException, object]) -> None:
        if not isinstance(exc_info[1], FileNotFoundError):
            failures.append(f"{path}: {exc_info[1]}")

    shutil.rmtree(folder, onerror=record)  # onexc is 3.12+; this package supports 3.10
    return f"could not remove {folder}: " + "; ".join(failures[:3]) if failures else ""


def staging_key(folder: Path) -> str:
    """The cache key a staging folder was made for ('' when its name carries none)."""
    key = folder.name.split(".", 1)[0]
    return key if len(key) == KEY_LENGTH and all(c in "0123456789abcdef" for c in key) else ""


def sweep_staging(cache: EngineCache, *, own_key: str = "") -> list[Path]:
    """Remove staging folders whose build is over; return them. ``own_key``'s lock is held by the caller."""
    base = cache.root / "staging"
    removed: list[Path] = []
    for folder in sorted(base.iterdir()) if base.is_dir() else []:
        key = staging_key(folder)
        if key == own_key and key:
            over = True
        elif key:
            over = _lock_is_free(cache.lock_path(key))
        else:
            over = time.time() - folder.lstat().st_mtime > ORPHAN_STAGING_S
        if over:
            problem = _remove_tree(folder) if folder.is_dir() else _unlink(folder)
            if problem:
                LOG.warning("staging debris stays: %s", problem)
            else:
                removed.append(folder)
    if removed:
        LOG.info("removed %d staging folder(s) left by earlier builds", len(removed))
    return removed


def _lock_is_free(lock: Path) -> bool:
    """True when no process holds ``lock`` (taken and released at once); a missing lock is free."""
    try:
        with file_lock(lock, timeout_s=0.0):
            return True
    except EdgeAiError:
        return False


def _unlink(path: Path) -> str:
    try:
        path.unlink()
    except OSError as err:
        return f"could not remove {path}: {err}"
    return ""


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
