"""A detector that finds nothing on its own check frame is refused at load."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from tiny_models import detector_manifest

from edge_ai_ros.atomic_io import file_sha256
from edge_ai_ros.errors import EngineError, ManifestError
from edge_ai_ros.manifest import DecoderSpec
from edge_ai_ros.pipeline import Perception
from edge_ai_ros.serving.serving_check import run_serving_check


def _with_check(tmp_path: Path, min_results: int, **decoder: object) -> Path:
    manifest = detector_manifest(tmp_path)
    frame = tmp_path / "check.png"
    Image.fromarray(np.full((64, 64, 3), (200, 40, 40), np.uint8)).save(frame)
    data = json.loads(manifest.read_text())
    data["check"] = {"frame": frame.name, "sha256": file_sha256(frame), "min_results": min_results}
    data["decoder"].update(decoder)
    manifest.write_text(json.dumps(data))
    return manifest


def _check(manifest: Path, decoder: DecoderSpec | None = None) -> int:
    perception = Perception(manifest, backend="onnxruntime", decoder=decoder)
    try:
        return run_serving_check(perception, manifest)
    finally:
        perception.close()


def test_a_detector_that_finds_what_it_should_passes(tmp_path: Path) -> None:
    assert _check(_with_check(tmp_path, 2)) == 2


def test_a_detector_that_finds_nothing_is_refused(tmp_path: Path) -> None:
    with pytest.raises(EngineError, match=r"found 0 objects on its check frame check\.png, .* at least 1"):
        _check(_with_check(tmp_path, 1, score_threshold=0.99))


def test_live_thresholds_do_not_fail_the_check(tmp_path: Path) -> None:
    # an operator's high score_threshold is not the model's fault: the check uses the manifest's own
    assert _check(_with_check(tmp_path, 2), DecoderSpec(kind="yolo", score_threshold=0.99)) == 2


def test_a_changed_check_frame_is_refused(tmp_path: Path) -> None:
    manifest = _with_check(tmp_path, 1)
    Image.fromarray(np.zeros((64, 64, 3), np.uint8)).save(tmp_path / "check.png")
    with pytest.raises(ManifestError, match="check.frame .* does not match"):
        _check(manifest)
