"""Perception: manifest -> engine -> results on each CPU backend; mismatches refused at load."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from tiny_models import classifier_manifest, detector_manifest, segmenter_manifest

from edge_ai_ros.engines.options import EngineOptions
from edge_ai_ros.engines.registry import available_backends
from edge_ai_ros.errors import InvalidInputError, ManifestError
from edge_ai_ros.manifest import DecoderSpec
from edge_ai_ros.pipeline import Perception

BACKENDS = [b for b in ("onnxruntime", "openvino") if b in available_backends()]
OPTIONS = EngineOptions(threads=1, auto_select="table")  # the fixed order: these tests name the backend


def _red(height: int, width: int) -> np.ndarray:
    image = np.zeros((height, width, 3), np.uint8)
    image[..., 0] = 255
    return image


@pytest.mark.parametrize("backend", BACKENDS)
def test_detector_boxes_in_original_pixels(backend: str, tmp_path: Path) -> None:
    # 128x96 into 64x64: scale 0.5, pad_y 8. Row 0 (12, 18, 32, 38) input -> (24, 20, 64, 60) original.
    # Mean red of the letterboxed input: 48 red rows and 16 rows of pad 114, over 64 rows.
    mean_red = (48 + 16 * 114 / 255) / 64
    with Perception(detector_manifest(tmp_path), backend=backend, options=OPTIONS) as perception:
        result = perception.run(_red(96, 128))
    assert result.model_id == "det" and result.task == "detection"
    assert [d.label for d in result.detections] == ["car", "person"]
    assert [d.score for d in result.detections] == pytest.approx([0.9 * (0.5 + 0.4 * mean_red), 0.63], abs=1e-5)
    assert result.detections[0].box == pytest.approx((24.0, 20.0, 64.0, 60.0), abs=1e-4)
    assert result.detections[1].box == pytest.approx((80.0, 56.0, 112.0, 72.0), abs=1e-4)
    assert result.timings.inference_s > 0 and result.timings.total_s >= result.timings.inference_s


@pytest.mark.parametrize("backend", BACKENDS)
def test_detector_output_follows_the_image(backend: str, tmp_path: Path) -> None:
    with Perception(detector_manifest(tmp_path), backend=backend, options=OPTIONS) as perception:
        black = perception.run(np.zeros((96, 128, 3), np.uint8))
    # Row 0 drops to 0.9 * (0.5 + 0.4 * 0.11) = 0.49, so row 1 (0.54) now wins the NMS against it.
    assert [round(d.score, 4) for d in black.detections] == [0.63, 0.54]


@pytest.mark.parametrize("backend", BACKENDS)
def test_classifier_top_k(backend: str, tmp_path: Path) -> None:
    image = np.zeros((20, 30, 3), np.uint8)
    image[..., 1] = 255
    with Perception(classifier_manifest(tmp_path), backend=backend, options=OPTIONS) as perception:
        cls = perception.run(image).classification
    assert cls is not None and cls.labels[0] == "green" and len(cls.labels) == 2
    assert cls.scores[0] == pytest.approx(np.exp(10) / (np.exp(10) + 2), rel=1e-4)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("stride", [1, 2])
def test_segmentation_mask_is_original_size(backend: str, stride: int, tmp_path: Path) -> None:
    image = np.zeros((8, 16, 3), np.uint8)  # left half blue, right half green
    image[:, :8, 2] = 200
    image[:, 8:, 1] = 200
    with Perception(segmenter_manifest(tmp_path, stride=stride), backend=backend, options=OPTIONS) as perception:
        mask = perception.run(image).mask
    assert mask is not None and mask.shape == (8, 16) and mask.dtype == np.uint8
    assert (mask[:, :8] == 2).all() and (mask[:, 8:] == 1).all()


def test_decoder_settings_can_be_overridden(tmp_path: Path) -> None:
    spec = DecoderSpec(kind="yolo", score_threshold=0.7, max_detections=5)
    with Perception(detector_manifest(tmp_path), options=OPTIONS, decoder=spec) as perception:
        assert perception.manifest.decoder == spec
        assert [d.label for d in perception.run(_red(96, 128)).detections] == ["car"]  # 0.76 > 0.7 > 0.63


def test_decoder_can_be_replaced_between_frames(tmp_path: Path) -> None:
    with Perception(detector_manifest(tmp_path), options=OPTIONS) as perception:
        declared = perception.declared_decoder
        assert [d.label for d in perception.run(_red(96, 128)).detections] == ["car", "person"]
        perception.set_decoder(DecoderSpec(kind="yolo", score_threshold=0.7))
        assert [d.label for d in perception.run(_red(96, 128)).detections] == ["car"]
        assert perception.manifest.decoder.score_threshold == 0.7 and perception.declared_decoder == declared
        with pytest.raises(ManifestError):  # a decoder that does not fit the output is refused ...
            perception.set_decoder(DecoderSpec(kind="segmentation"))
        assert perception.manifest.decoder.kind == "yolo"  # ... and the one serving stays
        assert [d.label for d in perception.run(_red(96, 128)).detections] == ["car"]


def test_properties_and_warmup(tmp_path: Path) -> None:
    with Perception(detector_manifest(tmp_path), options=OPTIONS) as perception:
        perception.warmup(2)
        assert perception.model_id == "det"
        assert perception.manifest.labels == ("car", "person")
        assert perception.engine_info.backend == BACKENDS[0]  # fp32: onnxruntime first


@pytest.mark.parametrize(
    ("image", "pattern"),
    [(np.zeros((10, 10), np.uint8), "image: expected HxWx3 uint8"),
     (np.zeros((10, 10, 3), np.float32), "image: expected HxWx3 uint8"),
     (np.zeros((0, 10, 3), np.uint8), "image: has zero width or height")],
)
def test_bad_images_raise_invalid_input(image: np.ndarray, pattern: str, tmp_path: Path) -> None:
    with Perception(detector_manifest(tmp_path), options=OPTIONS) as perception:
        with pytest.raises(InvalidInputError, match=pattern):
            perception.run(image)
        assert perception.run(_red(96, 128)).detections  # still serving


def _edit_manifest(path: Path, **changes: object) -> Path:
    data = json.loads(path.read_text())
    for dotted, value in changes.items():
        node = data
        *parents, leaf = dotted.split("__")
        for key in parents:
            node = node[key]
        node[leaf] = value
    path.write_text(json.dumps(data))
    return path


@pytest.mark.parametrize(
    ("changes", "pattern"),
    [
        ({"preprocess__width": 32}, "engine input 'images' is float32 \\[1, 3, 64, 64\\]; preprocess makes"),
        ({"decoder__kind": "classification"}, "task 'detection' is decoded by 'yolo'"),
        ({"decoder__output": "boxes"}, "decoder.output 'boxes' is not an engine output"),
        ({"labels": ["car", "person", "bus"]}, "7 values per box.*needs 8"),
        ({"outputs": [{"name": "predictions", "shape": [1, 5, 7], "dtype": "float32"}]},
         "manifest output 'predictions' is float32 \\[1, 5, 7\\]"),
        ({"artifact__sha256": "0" * 64}, "size or sha256 differs"),
    ],
)
def test_mismatches_are_manifest_errors(changes: dict[str, object], pattern: str, tmp_path: Path) -> None:
    path = _edit_manifest(detector_manifest(tmp_path), **changes)
    with pytest.raises(ManifestError, match=pattern):
        Perception(path, options=OPTIONS)
