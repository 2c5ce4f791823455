"""test/regression turns a directory of bags and goldens into one test case per bag and engine."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("rclpy")
pytest.importorskip("edge_ai_ros.msg")

from replay_bags import TOPIC, write_bag  # noqa: E402
from tiny_detector import build_detector  # noqa: E402

from edge_ai_ros.replay.regression import load_cases  # noqa: E402
from edge_ai_ros.replay.session import ReplayJob  # noqa: E402
from edge_ai_ros.ros.drivers.replay_process import run_replay  # noqa: E402

REGRESSION_TESTS = Path(__file__).resolve().parents[1] / "regression" / "test_regression.py"


def _corpus(root: Path) -> Path:
    model = build_detector(root / "model")
    for name, frames in (("good", 5), ("drifted", 6)):
        bag = write_bag(root / "bags" / name, frames=frames)
        run_replay(ReplayJob(bag=str(bag), topic=TOPIC, manifest=str(model), out_dir=str(root / "rec" / name),
                             record_golden=True, golden=str(root / "golden" / f"{name}.golden.json"),
                             measure_engine=False))
    drifted = root / "golden" / "drifted.golden.json"
    data = json.loads(drifted.read_text())
    data["frames"][2]["detections"][0]["box"] = [0.0, 0.0, 2.0, 2.0]  # golden no longer matches frame 2
    drifted.write_text(json.dumps(data))
    write_bag(root / "bags" / "unrecorded", frames=3)
    config = root / "regression.yaml"
    config.write_text(f"topic: {TOPIC}\ngolden_dir: golden\nbags_dir: bags\n"
                      f"engines:\n  fp32: {{manifest: model/{model.name}, backend: onnxruntime}}\n")
    return config


def test_directory_becomes_cases_and_failures_name_their_report(tmp_path: Path) -> None:
    config = _corpus(tmp_path)
    assert [c.id for c in load_cases(config)] == ["drifted-fp32", "good-fp32", "unrecorded-fp32"]
    env = {**os.environ, "EDGE_AI_ROS_REGRESSION_CONFIG": str(config),
           "EDGE_AI_ROS_REGRESSION_OUT": str(tmp_path / "reports")}
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(REGRESSION_TESTS)],
                          env=env, capture_output=True, text=True, timeout=120, check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1, out
    assert "1 passed" in out and "2 failed" in out, out
    report = tmp_path / "reports" / "drifted-fp32" / "report.md"
    assert f"report: {report}" in out and report.is_file()
    assert "FAIL" in report.read_text() and (report.parent / "overlays" / "frame_00002.png").is_file()
    assert "unrecorded.golden.json does not exist" in out and "--record-golden" in out
