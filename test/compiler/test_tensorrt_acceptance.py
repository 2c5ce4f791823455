"""The GPU acceptance run (scripts/tensorrt_acceptance.py): the whole TensorRT path where it can run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from edge_ai_ros.engines.tensorrt_runtime import tensorrt_usable

REPO = Path(__file__).resolve().parents[2]
USABLE, REASON = tensorrt_usable()


def _run(out: Path, iterations: int) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=str(REPO), ROS_AUTOMATIC_DISCOVERY_RANGE="LOCALHOST")
    return subprocess.run([sys.executable, str(REPO / "scripts" / "tensorrt_acceptance.py"), "--out", str(out),
                           "--iterations", str(iterations)], env=env, capture_output=True, text=True, timeout=1800,
                          check=False)


@pytest.mark.skipif(USABLE, reason="TensorRT runs here: the full acceptance test below applies")
def test_acceptance_reports_why_tensorrt_cannot_run(tmp_path: Path) -> None:
    done = _run(tmp_path, 1)
    report = json.loads((tmp_path / "tensorrt_acceptance.json").read_text(encoding="utf-8"))
    assert done.returncode == 3 and report["tensorrt_usable"] is False and report["reason"] == REASON


@pytest.mark.skipif(not USABLE, reason=f"needs TensorRT and a GPU: {REASON}")
def test_demo_detector_builds_replays_and_is_timed_at_every_precision(tmp_path: Path) -> None:
    done = _run(tmp_path, 50)
    report = json.loads((tmp_path / "tensorrt_acceptance.json").read_text(encoding="utf-8"))
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    assert report["results"]["fp32"]["replay"]["verdict"] == "recorded"
    for precision in ("fp16", "int8"):
        assert report["results"][precision]["replay"]["verdict"] == "pass"
        assert report["results"][precision]["timing"]["p50_ms"] > 0
