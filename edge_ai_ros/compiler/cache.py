"""Content-addressed engine cache: ``<root>/<key[:2]>/<key>/`` holds one artifact and its manifest.

An entry appears whole or not at all: it is built in a private staging folder and moved
into place with one rename, under a per-key lock, so two builds of the same key never
interleave and a crash leaves only staging debris that the next build ignores. An entry
whose manifest does not match its artifact, the key, or this machine is reported by name
and rebuilt, never loaded.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from edge_ai_ros.atomic_io import atomic_write_bytes, file_lock
from edge_ai_ros.errors import CompileError, EdgeAiError, ManifestError
from edge_ai_ros.host import check_host_record
from edge_ai_ros.manifest import ModelManifest, load_manifest, manifest_path_for, verify_artifact

LOG = logging.getLogger(__name__)


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
        except (EdgeAiError, OSError) as err:
            raise CompileError(
                f"cache directory {self.root} is not writable: {err}",
                fix="pass --cache-dir with a writable folder that has free space",
            ) from err

    @contextlib.contextmanager
    def locked(self, key: str, timeout_s: float = 1800.0) -> Iterator[None]:
        """Hold the per-key lock: a second build of the same key waits, then finds the first's entry."""
        with file_lock(self.root / "locks" / f"{key}.lock", timeout_s=timeout_s):
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
        artifact = (manifests[0].parent / manifest.artifact.path).resolve()
        return CacheEntry(key=key, artifact=artifact, manifest_path=manifests[0], manifest=manifest)

    @contextlib.contextmanager
    def staging(self, key: str) -> Iterator[Path]:
        """A private folder to build into; removed afterwards whatever happens."""
        base = self.root / "staging"
        base.mkdir(parents=True, exist_ok=True)
        folder = Path(tempfile.mkdtemp(prefix=f"{key[:16]}.", dir=base))
        try:
            yield folder
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    def commit(self, key: str, staged: Path, artifact_name: str) -> CacheEntry:
        """Move a staged folder (artifact + manifest) into place with one rename, replacing a stale entry."""
        final = self.entry_dir(key)
        final.parent.mkdir(parents=True, exist_ok=True)
        if final.exists():
            trash = Path(tempfile.mkdtemp(prefix=f"{key[:16]}.old.", dir=self.root / "staging"))
            os.replace(final, trash / "entry")
            shutil.rmtree(trash, ignore_errors=True)
        _fsync_dir(staged)
        os.replace(staged, final)
        _fsync_dir(final.parent)
        manifest_file = manifest_path_for(final / artifact_name)
        return CacheEntry(
            key=key, artifact=final / artifact_name, manifest_path=manifest_file, manifest=load_manifest(manifest_file),
        )


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
