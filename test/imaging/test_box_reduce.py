"""box_reduce: the numpy 2x2 / 4x4 reduce gives Pillow's pixels, and preprocess uses it only where exact."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from edge_ai_ros.imaging.box_reduce import box_reduce, exact_factor
from edge_ai_ros.imaging.raw import decode_raw, encode_raw
from edge_ai_ros.manifest import PreprocessSpec
from edge_ai_ros.preprocess import preprocess


def _pillow_fast(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """What resample="fast" meant before box_reduce existed: Pillow's own reduce-then-bilinear."""
    resized = Image.fromarray(np.ascontiguousarray(image)).resize(
        (width, height), Image.Resampling.BILINEAR, reducing_gap=1.0)
    return np.asarray(resized)


def _images(height: int, width: int) -> list[np.ndarray]:
    rng = np.random.default_rng(height * 7 + width)
    noise = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    ys, xs = np.mgrid[0:height, 0:width]
    ramp = np.stack([xs % 256, ys % 256, (xs + ys) % 256], axis=2).astype(np.uint8)
    # every rounding case of a 2x2 sum: remainders 0-3 (ties at 2 round up)
    ties = np.tile(np.array([[[1], [2]], [[2], [1]]], np.uint8), (height // 2, width // 2, 3))
    return [noise, ramp, ties, np.full((height, width, 3), 255, np.uint8), np.zeros((height, width, 3), np.uint8)]


@pytest.mark.parametrize("factor", [2, 4])
@pytest.mark.parametrize(("height", "width"), [(480, 640), (960, 1280), (8, 12)])
def test_pixels_equal_pillow(factor: int, height: int, width: int) -> None:
    for image in _images(height, width):
        got = box_reduce(image, factor)
        assert got.shape == (height // factor, width // factor, 3)
        np.testing.assert_array_equal(got, _pillow_fast(image, width // factor, height // factor))
        assert got.transpose(2, 0, 1).flags.c_contiguous  # planar, so an NCHW write runs in order


def test_strided_rows_from_a_padded_message() -> None:
    rgb = _images(48, 64)[0]
    view = decode_raw(**encode_raw(rgb, "rgb8", row_padding=6).fields())  # type: ignore[arg-type]
    assert not view.flags.c_contiguous
    np.testing.assert_array_equal(box_reduce(view, 2), _pillow_fast(rgb, 32, 24))


def test_exact_factor_only_for_whole_2x_and_4x() -> None:
    assert exact_factor(640, 480, 320, 240) == 2
    assert exact_factor(1280, 960, 320, 240) == 4
    assert exact_factor(1920, 1080, 320, 180) is None  # 6x: Pillow's fixed-point reciprocal, left to Pillow
    assert exact_factor(640, 480, 320, 241) is None
    assert exact_factor(641, 480, 320, 240) is None
    with pytest.raises(ValueError, match="factor must be one of"):
        box_reduce(np.zeros((6, 6, 3), np.uint8), 3)
    with pytest.raises(ValueError, match="not a multiple of 2"):
        box_reduce(np.zeros((5, 6, 3), np.uint8), 2)


@pytest.mark.parametrize("spec", [
    PreprocessSpec(width=320, height=320, resample="fast"),
    PreprocessSpec(width=320, height=320, resample="fast", channel_order="bgr", mean=(0.4, 0.5, 0.6), std=(0.2, 0.3, 0.4)),
    PreprocessSpec(width=320, height=240, resample="fast", letterbox=False, layout="nhwc"),
], ids=["demo", "bgr-mean-std", "stretch-nhwc"])
@pytest.mark.parametrize(("height", "width"), [(480, 640), (720, 1280), (1080, 1920)])
def test_preprocess_fast_matches_pillow_reference(spec: PreprocessSpec, height: int, width: int) -> None:
    """1080p -> 320 is a 6x reduce: Pillow's path; 2x and 4x take box_reduce. Same tensors either way."""
    image = _images(height, width)[0]
    tensor, transform = preprocess(image, spec)
    new_w, new_h = round(width * transform.scale_x), round(height * transform.scale_y)
    canvas = np.full((spec.height, spec.width, 3), spec.pad_value, np.uint8)
    x, y = int(transform.pad_x), int(transform.pad_y)
    canvas[y:y + new_h, x:x + new_w] = _pillow_fast(image, new_w, new_h)
    if spec.channel_order == "bgr":
        canvas = canvas[..., ::-1]
    expected = (canvas.astype(np.float32) * np.float32(spec.scale) - np.float32(spec.mean)) / np.float32(spec.std)
    if spec.layout == "nchw":
        expected = expected.transpose(2, 0, 1)
    np.testing.assert_allclose(tensor[0], expected, rtol=0, atol=1e-6)
