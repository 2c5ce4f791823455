"""YOLO decoder: known boxes in, known boxes out, both layouts, letterbox undone exactly."""

from __future__ import annotations

import numpy as np
import pytest

from edge_ai_ros.decoders import make_decoder
from edge_ai_ros.engines.base import TensorSpec
from edge_ai_ros.errors import ManifestError
from edge_ai_ros.manifest import DecoderSpec, PreprocessSpec
from edge_ai_ros.preprocess import LetterboxTransform, letterbox

LABELS = ("car", "person")
# 640x480 into 320x320: scale 0.5, content 320x240, pad_y 40.
TRANSFORM = LetterboxTransform(scale_x=0.5, scale_y=0.5, pad_x=0.0, pad_y=40.0, orig_width=640,
                               orig_height=480, input_width=320, input_height=320)


def _rows() -> np.ndarray:
    """cx, cy, w, h, obj, p(car), p(person) in input pixels."""
    return np.array([
        [60, 100, 100, 100, 0.9, 0.9, 0.1],   # car, score .81, box (10, 50, 110, 150) -> (20, 20, 220, 220)
        [62, 100, 100, 100, 0.8, 0.9, 0.1],   # same car, lower score: suppressed
        [62, 100, 100, 100, 0.9, 0.1, 0.8],   # person at the same place: kept (other class)
        [200, 200, 20, 40, 0.2, 0.9, 0.1],    # score .18: below threshold
        [300, 60, 40, 40, 1.0, 0.3, 0.0],     # car .3, box (280, 40, 320, 80) -> (560, 0, 640, 80)
    ], dtype=np.float32)


def test_known_boxes_out() -> None:
    decoder = make_decoder(DecoderSpec(kind="yolo", score_threshold=0.25, iou_threshold=0.45), LABELS)
    dets = decoder.decode(_rows()[None], TRANSFORM).detections
    assert [(d.class_id, d.label) for d in dets] == [(0, "car"), (1, "person"), (0, "car")]
    assert [d.score for d in dets] == pytest.approx([0.81, 0.72, 0.3], abs=1e-6)
    assert dets[0].box == pytest.approx((20.0, 20.0, 220.0, 220.0))
    assert dets[1].box == pytest.approx((24.0, 20.0, 224.0, 220.0))
    assert dets[2].box == pytest.approx((560.0, 0.0, 640.0, 80.0))


def test_yolov8_layout_gives_the_same_boxes() -> None:
    rows = _rows()
    v8_rows = np.concatenate([rows[:, :4], rows[:, 5:] * rows[:, 4:5]], axis=1)  # fold obj into cls
    spec = DecoderSpec(kind="yolo", layout="yolov8")
    dets = make_decoder(spec, LABELS).decode(v8_rows.T[None], TRANSFORM).detections
    assert [d.class_id for d in dets] == [0, 1, 0]
    assert dets[0].box == pytest.approx((20.0, 20.0, 220.0, 220.0))


def test_max_detections_and_threshold() -> None:
    spec = DecoderSpec(kind="yolo", score_threshold=0.5, max_detections=1)
    dets = make_decoder(spec, LABELS).decode(_rows()[None], TRANSFORM).detections
    assert len(dets) == 1 and dets[0].score == pytest.approx(0.81)


def test_no_boxes_above_threshold_gives_empty() -> None:
    dets = make_decoder(DecoderSpec(kind="yolo", score_threshold=0.99), LABELS).decode(_rows()[None], TRANSFORM)
    assert dets.detections == ()


def test_letterbox_undo_matches_preprocess_transform() -> None:
    image = np.zeros((480, 640, 3), np.uint8)
    _, transform = letterbox(image, PreprocessSpec(width=320, height=320))
    assert transform == TRANSFORM


def test_boxes_are_clipped_to_the_image() -> None:
    rows = np.array([[5, 45, 30, 30, 1.0, 1.0, 0.0]], np.float32)  # (-10, 30, 20, 60) input
    dets = make_decoder(DecoderSpec(kind="yolo"), LABELS).decode(rows[None], TRANSFORM).detections
    assert dets[0].box == pytest.approx((0.0, 0.0, 40.0, 40.0))


def test_unknown_class_id_gets_its_number_as_label() -> None:
    rows = np.array([[50, 50, 10, 10, 1.0, 0.0, 0.0, 0.9]], np.float32)
    dets = make_decoder(DecoderSpec(kind="yolo"), LABELS).decode(rows[None], TRANSFORM).detections
    assert dets[0].label == "2"


@pytest.mark.parametrize(
    ("shape", "layout", "pattern"),
    [((1, 100), "yolov5", "rank-3"), ((1, 100, 8), "yolov5", "8 values per box.*needs 7"),
     ((1, 7, 100), "yolov8", "7 values per box.*needs 6")],
)
def test_incompatible_output_spec_is_refused(shape: tuple[int, ...], layout: str, pattern: str) -> None:
    decoder = make_decoder(DecoderSpec(kind="yolo", layout=layout), LABELS)
    with pytest.raises(ManifestError, match=pattern):
        decoder.check_output(TensorSpec(name="out", shape=shape, dtype="float32"))


def test_dynamic_dims_are_accepted() -> None:
    make_decoder(DecoderSpec(kind="yolo"), LABELS).check_output(
        TensorSpec(name="out", shape=("batch", "anchors", 7), dtype="float32"))


def test_unknown_kind_and_layout_are_refused() -> None:
    with pytest.raises(ManifestError, match="decoder.kind 'ssd' is unknown.*yolo, classification"):
        make_decoder(DecoderSpec(kind="ssd"), LABELS)
    with pytest.raises(ManifestError, match="decoder.layout"):
        DecoderSpec(kind="yolo", layout="yolo_nas")
