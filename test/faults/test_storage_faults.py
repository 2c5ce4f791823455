# ruff: noqa: F811  (pytest fixtures imported from compiler_models are redefined as parameters)
"""A full, read-only or forbidden disk is reported as the OS error with its path and remedy."""

from __future__ import annotations

import errno
import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from compiler_models import make_classifier

from edge_ai_ros.compiler.build import BuildOptions, build_engine
from edge_ai_ros.compiler.cache import EngineCache
from edge_ai_ros.errors import CompileError, StorageError


def _mount(target: Path, options: str) -> bool:
    target.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(target)],
                          capture_output=True, text=True, check=False)
    return done.returncode == 0


@pytest.fixture
def tmpfs(tmp_path: Path) -> Iterator[Callable[[str, str], Path]]:
    """Mount small tmpfs folders under tmp_path (skip where mounting is not permitted); unmount after."""
    mounted: list[Path] = []

    def mount(name: str, options: str = "size=1m") -> Path:
        target = tmp_path / name
        if not _mount(target, options):
            pytest.skip("mounting a tmpfs is not permitted here (needs root or CAP_SYS_ADMIN)")
        mounted.append(target)
        return target

    yield mount
    for target in reversed(mounted):
        subprocess.run(["umount", "-l", str(target)], check=False)


def _big_model(tmp_path: Path) -> Path:
    return make_classifier(tmp_path / "models" / "big.onnx", classes=20000)  # 1.3 MB: more than the tmpfs holds


@pytest.mark.parametrize("backend", ["onnxruntime", "openvino"])
def test_full_disk_during_compile_is_named_enospc(tmpfs: Callable[..., Path], tmp_path: Path, backend: str) -> None:
    pytest.importorskip(backend)
    cache = tmpfs("cache")
    with pytest.raises(StorageError, match=r"ENOSPC: No space left on device writing .*staging") as caught:
        build_engine(BuildOptions(onnx_path=str(_big_model(tmp_path)), precision="fp32", backend=backend,
                                  cache_dir=str(cache)))
    assert caught.value.errno == errno.ENOSPC and "free space on the file system" in str(caught.value)
    assert "INVALID_PROTOBUF" not in str(caught.value) and "operators" not in str(caught.value)
    assert isinstance(caught.value.__cause__, CompileError)  # the backend's own message stays in the chain
    assert not any((cache / "staging").iterdir())  # nothing half-built stays behind


def test_read_only_cache_is_named_erofs(tmpfs: Callable[..., Path], tmp_path: Path) -> None:
    cache = tmpfs("ro_cache", "size=1m,ro")
    with pytest.raises(StorageError, match=r"EROFS: Read-only file system writing .*ro_cache") as caught:
        build_engine(BuildOptions(onnx_path=str(make_classifier(tmp_path / "m.onnx")), precision="fp32",
                                  backend="onnxruntime", cache_dir=str(cache)))
    assert "read-only file system; remount it read-write" in str(caught.value)


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores permission bits, so EACCES cannot happen as root")
def test_forbidden_cache_is_named_eacces(tmp_path: Path) -> None:
    cache = tmp_path / "locked"
    cache.mkdir(mode=0o500)
    with pytest.raises(StorageError, match=r"EACCES: Permission denied writing .*locked"):
        build_engine(BuildOptions(onnx_path=str(make_classifier(tmp_path / "m.onnx")), precision="fp32",
                                  backend="onnxruntime", cache_dir=str(cache)))


def test_cleanup_failure_is_reported_without_masking_the_first_error(tmp_path: Path) -> None:
    cache = EngineCache(tmp_path / "cache")
    busy: list[Path] = []
    try:
        with pytest.raises(CompileError, match="the build itself failed") as caught, cache.staging("ab" * 32) as staged:
            busy.append(staged / "mountpoint")
            if not _mount(busy[0], "size=64k"):
                pytest.skip("mounting a tmpfs is not permitted here (needs root or CAP_SYS_ADMIN)")
            raise CompileError("the build itself failed")  # cleanup then fails: a busy mount point
    finally:
        for target in busy:
            subprocess.run(["umount", "-l", str(target)], check=False)
    notes = " ".join(getattr(caught.value, "__notes__", []))
    assert "cleanup also failed: could not remove" in notes and "mountpoint" in notes
