# ruff: noqa: F811  (pytest fixtures imported from compiler_models are redefined as parameters)
"""Cache entries are readable like their files, and staging debris of dead builds is swept."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from compiler_models import classifier_onnx  # noqa: F401 - pytest fixture

from edge_ai_ros.atomic_io import DIR_MODE
from edge_ai_ros.compiler.build import BuildOptions, BuildResult, build_engine
from edge_ai_ros.compiler.cache import ORPHAN_STAGING_S, EngineCache


def _build(model: Path, cache: Path) -> BuildResult:
    return build_engine(BuildOptions(onnx_path=str(model), precision="fp32", backend="onnxruntime",
                                     cache_dir=str(cache)))


def test_entry_folder_has_the_mode_mkdir_gives(classifier_onnx: Path, tmp_path: Path) -> None:
    result = _build(classifier_onnx, tmp_path / "cache")
    umask = os.umask(0)
    os.umask(umask)
    assert DIR_MODE == 0o777 & ~umask
    assert result.engine_path.parent.stat().st_mode & 0o777 == DIR_MODE  # 0o755 under umask 022, not 0o700
    assert result.engine_path.stat().st_mode & 0o777 == 0o666 & ~umask


def _debris(staging: Path, name: str, age_s: float = 0.0) -> Path:
    folder = staging / name
    folder.mkdir(parents=True)
    (folder / "model.onnx").write_bytes(b"half an engine")
    if age_s:
        stamp = time.time() - age_s
        os.utime(folder, (stamp, stamp))
    return folder


def test_next_build_sweeps_debris_of_dead_builds_only(classifier_onnx: Path, tmp_path: Path) -> None:
    cache = EngineCache(tmp_path / "cache")
    staging = cache.root / "staging"
    dead = _debris(staging, "c" * 64 + ".k1l2")  # a build of another key killed mid-way: its lock is free
    running_key = "d" * 64
    alive = _debris(staging, running_key + ".x9y8")  # a build still running in another process
    old_orphan = _debris(staging, "legacy.a1b2", age_s=ORPHAN_STAGING_S + 60)
    young_orphan = _debris(staging, "legacy.c3d4")
    cache.lock_path(running_key).parent.mkdir(parents=True, exist_ok=True)
    holder = subprocess.Popen(
        [sys.executable, "-c", "import fcntl, sys; f = open(sys.argv[1], 'a+b'); fcntl.flock(f, fcntl.LOCK_EX); "
         "print('held', flush=True); sys.stdin.read()", str(cache.lock_path(running_key))],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        _build(classifier_onnx, cache.root)
        assert not dead.exists() and not old_orphan.exists()
        assert alive.exists() and young_orphan.exists()
    finally:
        holder.communicate("", timeout=10)
