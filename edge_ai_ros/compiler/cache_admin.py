"""Look after an engine cache: list its entries, re-verify their files, prune it to a budget.

Every entry is checked with the same rule as a cache hit (manifest schema, every artifact file's
size and sha256). Pruning removes, in this order: staging debris of builds that are over,
entries that fail verification or have no readable manifest, entries not used for longer than
``older_than_s``, then the least recently used entries until the cache fits ``max_bytes``.
An entry whose key is locked (a build or a hit in progress) is never touched; a removed entry
disappears with one rename before its files are deleted, so a reader never sees half of one.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from edge_ai_ros.atomic_io import file_lock
from edge_ai_ros.compiler.cache import EngineCache, sweep_staging
from edge_ai_ros.errors import EdgeAiError
from edge_ai_ros.manifest import load_manifest, verify_artifact


@dataclass(frozen=True, kw_only=True)
class EntryInfo:
    key: str
    folder: Path
    model_id: str
    backend: str
    precision: str
    size_bytes: int
    last_used: float  # epoch seconds: the entry folder's mtime, stamped by each cache hit
    problem: str = ""  # "" = readable (and verified, when asked)


def _folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def describe_entry(folder: Path, *, verify: bool) -> EntryInfo:
    size, used = _folder_bytes(folder), folder.stat().st_mtime
    manifests = sorted(folder.glob("*.manifest.json"))
    if not manifests:
        return EntryInfo(key=folder.name, folder=folder, model_id="", backend="", precision="", size_bytes=size,
                         last_used=used, problem="no manifest")
    try:
        manifest = load_manifest(manifests[0])
        if verify:
            verify_artifact(manifest, manifests[0])
    except EdgeAiError as err:
        return EntryInfo(key=folder.name, folder=folder, model_id="", backend="", precision="", size_bytes=size,
                         last_used=used, problem=str(err))
    return EntryInfo(key=folder.name, folder=folder, model_id=manifest.model_id, backend=manifest.backend,
                     precision=manifest.precision, size_bytes=size, last_used=used)


def list_entries(cache: EngineCache, *, verify: bool = False) -> list[EntryInfo]:
    folders = sorted(p for p in cache.root.glob("??/*") if p.is_dir()) if cache.root.is_dir() else []
    return [describe_entry(f, verify=verify) for f in folders]


def remove_entry(cache: EngineCache, entry: EntryInfo) -> bool:
    """Remove one entry unless its key is locked; True when it is gone."""
    try:
        with file_lock(cache.lock_path(entry.key), timeout_s=0.0):
            staging = cache.root / "staging"
            staging.mkdir(parents=True, exist_ok=True)
            trash = Path(tempfile.mkdtemp(prefix=f"{entry.key}.pruned.", dir=staging))
            os.replace(entry.folder, trash / "entry")
            shutil.rmtree(trash, ignore_errors=True)  # leftovers are swept as debris by the next build
    except EdgeAiError:
        return False  # in use
    return True


def prune(cache: EngineCache, *, max_bytes: int | None = None, older_than_s: float | None = None,
          dry_run: bool = False) -> list[EntryInfo]:
    """Remove what the module docstring lists; return the entries removed (or that would be)."""
    if not dry_run:
        sweep_staging(cache)
    entries = list_entries(cache, verify=True)
    now = time.time()
    doomed = [e for e in entries if e.problem or (older_than_s is not None and now - e.last_used > older_than_s)]
    kept = sorted((e for e in entries if e not in doomed), key=lambda e: e.last_used)
    total = sum(e.size_bytes for e in kept)
    while max_bytes is not None and kept and total > max_bytes:
        oldest = kept.pop(0)
        doomed.append(oldest)
        total -= oldest.size_bytes
    if dry_run:
        return doomed
    removed = [e for e in doomed if remove_entry(cache, e)]
    with contextlib.suppress(OSError):  # drop emptied <key[:2]> folders
        for parent in {e.folder.parent for e in removed}:
            if not any(parent.iterdir()):
                parent.rmdir()
    return removed
