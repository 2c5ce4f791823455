"""``edge-ai-ros train-demo`` end to end at toy size: weights, ONNX and a verified manifest with its mAP."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge_ai_ros.cli.main import main
from edge_ai_ros.manifest import load_manifest, verify_artifact
from edge_ai_ros.models.detector_weights import load_detector


def test_train_demo_writes_all_three_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["train-demo", "--out-dir", str(tmp_path), "--steps", "2", "--batch-size", "2",
                 "--width-mult", "0.5", "--eval-images", "3", "--workers", "0", "--quiet"])
    assert code == 0
    manifest_file = tmp_path / "detector.onnx.manifest.json"
    manifest = load_manifest(manifest_file)
    verify_artifact(manifest, manifest_file)
    assert manifest.accuracy is not None and 0.0 <= manifest.accuracy["map"] <= 1.0
    assert manifest.accuracy["eval_images"] == 3
    assert manifest.build["training"] == {"steps": 2, "batch_size": 2, "lr": 3e-3, "seed": 0,
                                          "width_mult": 0.5, "threads": 2}
    assert load_detector(tmp_path / "detector.safetensors").config.stages[-1] == 64
    assert "mAP@0.5" in capsys.readouterr().out
