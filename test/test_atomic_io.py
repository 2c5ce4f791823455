"""Atomic writes leave the old file or the new one, never a half; the lock serialises writers."""

from __future__ import annotations

import multiprocessing
import multiprocessing.synchronize
import os
import stat
import time
from pathlib import Path

import pytest

from edge_ai_ros.atomic_io import (
    atomic_output_dir,
    atomic_output_path,
    atomic_write_bytes,
    atomic_write_text,
    file_lock,
    file_sha256,
)
from edge_ai_ros.errors import EdgeAiError


def test_write_replaces_content_and_leaves_no_temporary_files(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "engine.bin"
    atomic_write_bytes(target, b"old")
    atomic_write_text(target, "new")
    assert target.read_text() == "new"
    assert [p.name for p in target.parent.iterdir()] == ["engine.bin"]


def test_written_files_get_the_umask_mode_not_mkstemps_0600(tmp_path: Path) -> None:
    target = atomic_write_text(tmp_path / "manifest.json", "{}")
    mask = os.umask(0)
    os.umask(mask)
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~mask


def test_failed_tool_output_keeps_the_previous_file(tmp_path: Path) -> None:
    target = tmp_path / "model.onnx"
    target.write_bytes(b"good model")
    with pytest.raises(RuntimeError, match="exporter crashed"), atomic_output_path(target) as tmp:
        tmp.write_bytes(b"half a mod")
        raise RuntimeError("exporter crashed")
    assert target.read_bytes() == b"good model"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.onnx"]


def test_unwritable_directory_names_the_path_and_the_fix(tmp_path: Path) -> None:
    blocker = tmp_path / "not_a_dir"
    blocker.write_text("x")
    with pytest.raises(EdgeAiError, match=r"cannot write .*not_a_dir.*fix: choose a writable"):
        atomic_write_bytes(blocker / "engine.bin", b"data")


def test_sha256_matches_hashlib(tmp_path: Path) -> None:
    import hashlib

    data = os.urandom(3 << 20)
    path = tmp_path / "blob"
    path.write_bytes(data)
    assert file_sha256(path) == hashlib.sha256(data).hexdigest()


def _hold_lock(path: str, seconds: float, started: multiprocessing.synchronize.Event) -> None:
    with file_lock(path):
        started.set()
        time.sleep(seconds)


def test_lock_excludes_another_process_and_times_out_with_a_reason(tmp_path: Path) -> None:
    lock = str(tmp_path / "key.lock")
    started = multiprocessing.get_context("fork").Event()
    holder = multiprocessing.get_context("fork").Process(target=_hold_lock, args=(lock, 2.0, started))
    holder.start()
    try:
        assert started.wait(10)
        with pytest.raises(EdgeAiError, match="timed out .* waiting for lock"), file_lock(lock, timeout_s=0.2):
            pass
    finally:
        holder.join(10)
    with file_lock(lock, timeout_s=1.0):
        pass


def test_output_dir_replaces_the_folder_whole_or_not_at_all(tmp_path: Path) -> None:
    target = tmp_path / "shipped"
    target.mkdir()
    (target / "old.txt").write_text("old")
    with pytest.raises(RuntimeError), atomic_output_dir(target) as stage:
        (stage / "half.txt").write_text("half")
        raise RuntimeError("failed halfway")
    assert [p.name for p in target.iterdir()] == ["old.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["shipped"]  # no staging folder left behind
    with atomic_output_dir(target) as stage:
        (stage / "new.txt").write_text("new")
    assert [p.name for p in target.iterdir()] == ["new.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["shipped"]  # nor the old one
    assert stat.S_IMODE(target.stat().st_mode) == 0o755
