"""preprocess: letterbox geometry, normalisation, layouts, and views from decode_raw."""

from __future__ import annotations

import numpy as np
import pytest

from edge_ai_ros.errors import InvalidInputError, ManifestError
from edge_ai_ros.imaging.raw import decode_raw, encode_raw
from edge_ai_ros.manifest import PreprocessSpec
from edge_ai_ros.preprocess import InputCanvas, letterbox, normalize, preprocess


def _image(height: int, width: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def test_letterbox_geometry_and_padding() -> None:
    boxed, transform = letterbox(_image(480, 640), PreprocessSpec(width=320, height=320, pad_value=7))
    assert boxed.shape == (320, 320, 3)
    assert (transform.scale_x, transform.scale_y, transform.pad_x, transform.pad_y) == (0.5, 0.5, 0.0, 40.0)
    assert (transform.input_width, transform.input_height) == (320, 320)
    assert (boxed[:40] == 7).all() and (boxed[280:] == 7).all()


def test_top_left_letterbox_as_yolox_pads_right_and_bottom_only() -> None:
    spec = PreprocessSpec(width=320, height=320, letterbox_position="top_left", channel_order="bgr", scale=1.0)
    boxed, transform = letterbox(_image(480, 640), spec)
    assert (transform.pad_x, transform.pad_y, transform.scale_x) == (0.0, 0.0, 0.5)
    assert (boxed[240:] == 114).all() and not (boxed[:240] == 114).all()
    boxes = np.array([[10, 50, 110, 150]], np.float32)
    np.testing.assert_allclose(transform.to_original(boxes), [[20, 100, 220, 300]])
    tensor, _ = preprocess(_image(480, 640), spec)
    assert tensor.max() > 1.0  # raw 0-255, no division


def test_unknown_letterbox_position_is_refused() -> None:
    with pytest.raises(ManifestError, match="letterbox_position"):
        PreprocessSpec(width=8, height=8, letterbox_position="middle")


def test_same_size_is_copied_exactly() -> None:
    image = _image(32, 32)
    boxed, _ = letterbox(image, PreprocessSpec(width=32, height=32))
    np.testing.assert_array_equal(boxed, image)


def test_stretch_without_letterbox() -> None:
    boxed, transform = letterbox(_image(10, 40), PreprocessSpec(width=20, height=20, letterbox=False))
    assert boxed.shape == (20, 20, 3) and (transform.scale_x, transform.scale_y) == (0.5, 2.0)


def test_to_original_inverts_the_letterbox() -> None:
    _, transform = letterbox(_image(480, 640), PreprocessSpec(width=320, height=320))
    boxes = np.array([[10, 50, 110, 150], [-5, 0, 400, 400]], np.float32)
    np.testing.assert_allclose(transform.to_original(boxes), [[20, 20, 220, 220], [0, 0, 640, 480]])


def test_normalize_scale_mean_std_nchw() -> None:
    image = np.full((2, 2, 3), 255, np.uint8)
    image[..., 1] = 0
    spec = PreprocessSpec(width=2, height=2, mean=(0.5, 0.5, 0.5), std=(0.5, 0.25, 1.0))
    tensor = normalize(image, spec)
    assert tensor.shape == (1, 3, 2, 2) and tensor.dtype == np.float32
    np.testing.assert_allclose(tensor[0, :, 0, 0], [1.0, -2.0, 0.5])


def test_bgr_and_nhwc() -> None:
    image = np.zeros((2, 2, 3), np.uint8)
    image[..., 0] = 255  # red
    tensor = normalize(image, PreprocessSpec(width=2, height=2, channel_order="bgr", layout="nhwc"))
    assert tensor.shape == (1, 2, 2, 3)
    np.testing.assert_allclose(tensor[0, 0, 0], [0.0, 0.0, 1.0])


@pytest.mark.parametrize("encoding", ["bgr8", "rgba8", "mono8"])
def test_views_from_decode_raw_give_the_same_tensor(encoding: str) -> None:
    rgb = _image(48, 64)
    if encoding == "mono8":
        rgb = np.repeat(rgb[..., :1], 3, axis=2)
    raw = encode_raw(rgb, encoding, row_padding=5)
    view = decode_raw(**raw.fields())  # type: ignore[arg-type]
    spec = PreprocessSpec(width=32, height=32)
    np.testing.assert_array_equal(preprocess(view, spec)[0], preprocess(rgb.copy(), spec)[0])


def test_fast_resample_is_close_to_bilinear_on_smooth_images() -> None:
    ys, xs = np.mgrid[0:480, 0:640]
    image = np.stack([xs * 255 // 639, ys * 255 // 479, (xs + ys) * 255 // 1118], axis=2).astype(np.uint8)
    exact, _ = letterbox(image, PreprocessSpec(width=320, height=320))
    fast, _ = letterbox(image, PreprocessSpec(width=320, height=320, resample="fast"))
    assert np.abs(exact.astype(int) - fast.astype(int)).max() <= 2


def test_unknown_resample_is_refused() -> None:
    with pytest.raises(ManifestError, match="preprocess.resample must be"):
        PreprocessSpec(width=8, height=8, resample="lanczos")


@pytest.mark.parametrize(
    ("image", "pattern"),
    [(np.zeros((4, 4), np.uint8), "expected HxWx3"), (np.zeros((4, 4, 4), np.uint8), "expected HxWx3"),
     (np.zeros((4, 4, 3), np.int16), "dtype int16"), (np.zeros((4, 0, 3), np.uint8), "zero width")],
)
def test_bad_images(image: np.ndarray, pattern: str) -> None:
    with pytest.raises(InvalidInputError, match=f"image: .*{pattern}"):
        preprocess(image, PreprocessSpec(width=8, height=8))


@pytest.mark.parametrize("spec", [
    PreprocessSpec(width=320, height=320, resample="fast"),
    PreprocessSpec(width=96, height=64, pad_value=7, mean=(0.4, 0.5, 0.6), std=(0.2, 0.3, 0.4), channel_order="bgr"),
    PreprocessSpec(width=64, height=48, letterbox=False, layout="nhwc", mean=(0.4, 0.5, 0.6), std=(0.2, 0.3, 0.4)),
    PreprocessSpec(width=64, height=64, letterbox_position="top_left", channel_order="bgr", scale=1.0),
], ids=["demo", "bgr-mean-std", "stretch-nhwc", "yolox-top-left"])
def test_input_canvas_is_bit_identical_to_letterbox_and_normalize_across_size_changes(spec: PreprocessSpec) -> None:
    canvas = InputCanvas(spec)
    # a size change moves the image area: the old area must become padding again
    for seed, (height, width) in enumerate([(480, 640), (480, 640), (300, 100), (480, 640), (64, 96)]):
        image = _image(height, width, seed)
        tensor, transform = canvas.fill(image)
        boxed, expected_transform = letterbox(image, spec)
        np.testing.assert_array_equal(tensor, normalize(boxed, spec))
        assert transform == expected_transform


def test_input_canvas_refuses_bad_images_like_letterbox() -> None:
    with pytest.raises(InvalidInputError, match="zero width or height"):
        InputCanvas(PreprocessSpec(width=32, height=32)).fill(np.zeros((0, 5, 3), np.uint8))
