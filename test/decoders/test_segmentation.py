"""Segmentation decoder: argmax mask with the letterbox undone exactly, at stride 1 and 2."""

from __future__ import annotations

import numpy as np
import pytest

from edge_ai_ros.decoders import make_decoder
from edge_ai_ros.engines.base import TensorSpec
from edge_ai_ros.errors import ManifestError
from edge_ai_ros.manifest import DecoderSpec, PreprocessSpec
from edge_ai_ros.preprocess import letterbox

DECODER = make_decoder(DecoderSpec(kind="segmentation"), ("bg", "left", "right"))


def _logits_for(classes: np.ndarray) -> np.ndarray:
    """One-hot logits [1, 3, h, w] whose argmax is ``classes``."""
    return (np.arange(3)[:, None, None] == classes[None]).astype(np.float32)[None]


def test_letterbox_is_undone_exactly() -> None:
    # 8x4 image into 8x8: scale 1, pad_y 2. Input rows 2..5 are the image; left half 1, right half 2.
    _, transform = letterbox(np.zeros((4, 8, 3), np.uint8), PreprocessSpec(width=8, height=8))
    classes = np.zeros((8, 8), np.int64)
    classes[2:6, :4] = 1
    classes[2:6, 4:] = 2
    mask = DECODER.decode(_logits_for(classes), transform).mask
    assert mask is not None and mask.dtype == np.uint8 and mask.shape == (4, 8)
    assert (mask[:, :4] == 1).all() and (mask[:, 4:] == 2).all()


def test_downscaled_and_strided_output_is_resized_nearest() -> None:
    # 16x8 image into 8x8 input: scale 0.5, content 8x4 at pad_y 2; output stride 2 -> 4x4 cells.
    _, transform = letterbox(np.zeros((8, 16, 3), np.uint8), PreprocessSpec(width=8, height=8))
    classes = np.zeros((4, 4), np.int64)
    classes[1:3, 0] = 1  # input rows 2..5, cols 0..1 -> original rows 0..7, cols 0..3
    classes[1:3, 3] = 2  # original cols 12..15
    mask = DECODER.decode(_logits_for(classes), transform).mask
    assert mask is not None and mask.shape == (8, 16)
    expected = np.zeros((8, 16), np.uint8)
    expected[:, :4] = 1
    expected[:, 12:] = 2
    np.testing.assert_array_equal(mask, expected)


def test_output_rank_is_checked() -> None:
    with pytest.raises(ManifestError, match="needs an \\[N, C, H, W\\] output"):
        DECODER.check_output(TensorSpec(name="seg", shape=(1, 3, 8), dtype="float32"))
    with pytest.raises(ManifestError, match="300 classes"):
        DECODER.check_output(TensorSpec(name="seg", shape=(1, 300, 8, 8), dtype="float32"))
