"""``edge-ai-ros cache list|verify|prune`` on a real cache."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from compiler_models import make_classifier

from edge_ai_ros.cli.cache import parse_size
from edge_ai_ros.cli.main import main
from edge_ai_ros.compiler.build import BuildOptions, BuildResult, build_engine


def _build(tmp_path: Path, seed: int) -> BuildResult:
    model = make_classifier(tmp_path / f"m{seed}.onnx", seed=seed)
    return build_engine(BuildOptions(onnx_path=str(model), precision="fp32", backend="onnxruntime",
                                     cache_dir=str(tmp_path / "cache")))


def test_list_verify_and_prune(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    old, new = _build(tmp_path, 0), _build(tmp_path, 1)
    os.utime(old.engine_path.parent, (1e9, 1e9))  # used long ago
    cache = ["--cache-dir", str(tmp_path / "cache")]
    assert main(["cache", "list", *cache]) == 0
    assert "2 entries" in capsys.readouterr().out
    new.engine_path.write_bytes(b"corrupt" + new.engine_path.read_bytes()[7:])
    assert main(["cache", "verify", *cache]) == 1
    out = capsys.readouterr().out
    assert f"BAD: artifact file {new.engine_path}" in out and "1 bad" in out
    assert main(["cache", "prune", *cache]) == 0
    assert "1 entries removed" in capsys.readouterr().out and not new.engine_path.exists()
    assert old.engine_path.exists()
    assert main(["cache", "prune", *cache, "--older-than-days", "30", "--dry-run"]) == 0
    assert "would remove" in capsys.readouterr().out and old.engine_path.exists()
    assert main(["cache", "prune", *cache, "--max-size", "1K"]) == 0
    assert not old.engine_path.exists()
    assert main(["cache", "list", *cache]) == 0 and "0 entries" in capsys.readouterr().out


def test_sizes_parse() -> None:
    assert (parse_size("2G"), parse_size("500m"), parse_size("1KiB"), parse_size("10")) == (2 << 30, 500 << 20,
                                                                                            1024, 10)
