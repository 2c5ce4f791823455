"""The pipeline benchmark prints a table and writes a JSON report for each backend (no timing asserts)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tiny_models import detector_manifest

from edge_ai_ros.benchmarks.pipeline import main
from edge_ai_ros.engines.registry import available_backends


def test_report_has_every_backend_and_stage(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    backends = [b for b in available_backends() if b != "tensorrt"]
    out = tmp_path / "bench.json"
    assert main(["--manifest", str(detector_manifest(tmp_path)), "--runs", "3", "--warmup", "1",
                 "--threads", "1", "--backends", ",".join(backends), "--json", str(out)]) == 0
    report = json.loads(out.read_text())
    assert [row["backend"] for row in report["backends"]] == backends
    for row in report["backends"]:
        assert set(row["stages_ms"]) == {"preprocess", "inference", "postprocess", "total"}
        assert row["stages_ms"]["inference"]["p50"] > 0
    assert set(report["preprocess_only_ms"]) == {"bilinear", "fast"}
    assert "inference p50" in capsys.readouterr().out
