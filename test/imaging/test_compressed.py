"""decode_compressed: jpeg/png decode, ROS format strings, corrupt data and bombs refused."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from edge_ai_ros.errors import InvalidInputError
from edge_ai_ros.imaging.compressed import codec_of, decode_compressed, encode_compressed


def _gradient(height: int = 24, width: int = 32) -> np.ndarray:
    ys, xs = np.mgrid[0:height, 0:width]
    return np.stack([xs * 8, ys * 10, np.full_like(xs, 128)], axis=2).astype(np.uint8)


@pytest.mark.parametrize(
    ("fmt", "codec"),
    [("jpeg", "JPEG"), ("JPG", "JPEG"), ("png", "PNG"), ("rgb8; jpeg compressed bgr8", "JPEG"),
     ("bgr8; png compressed bgr8", "PNG")],
)
def test_codec_from_ros_format_strings(fmt: str, codec: str) -> None:
    assert codec_of(fmt) == codec


@pytest.mark.parametrize("fmt", ["", "tiff", "16UC1; compressedDepth png"])
def test_unsupported_format_names_format(fmt: str) -> None:
    with pytest.raises(InvalidInputError, match="^format: .*names no supported codec"):
        codec_of(fmt)


def test_png_round_trip_is_exact() -> None:
    rgb = _gradient()
    out = decode_compressed(format="png", data=encode_compressed(rgb, "png"))
    np.testing.assert_array_equal(out, rgb)


def test_jpeg_round_trip_is_close() -> None:
    rgb = _gradient()
    out = decode_compressed(format="rgb8; jpeg compressed bgr8", data=encode_compressed(rgb, "jpeg", quality=95))
    assert out.shape == rgb.shape and out.dtype == np.uint8
    assert np.abs(out.astype(int) - rgb.astype(int)).mean() < 3.0


def test_grayscale_png_becomes_rgb() -> None:
    buffer = io.BytesIO()
    Image.fromarray(np.arange(12, dtype=np.uint8).reshape(3, 4)).save(buffer, format="PNG")
    out = decode_compressed(format="png", data=buffer.getvalue())
    assert out.shape == (3, 4, 3)
    assert out[2, 3].tolist() == [11, 11, 11]


@pytest.mark.parametrize(
    ("data_of", "pattern"),
    [
        (lambda good: b"", "is empty"),
        (lambda good: b"\xff\xd8\xff not really a jpeg", "is not a valid jpeg"),
        (lambda good: good[: len(good) // 2], "is not a valid jpeg"),
        (lambda good: encode_compressed(_gradient(), "png"), "is not a valid jpeg"),
    ],
    ids=["empty", "garbage", "truncated", "png-declared-jpeg"],
)
def test_corrupt_jpeg_names_data(data_of, pattern: str) -> None:  # type: ignore[no-untyped-def]
    good = encode_compressed(_gradient(), "jpeg")
    with pytest.raises(InvalidInputError, match=f"^data: {pattern}") as info:
        decode_compressed(format="jpeg", data=data_of(good))
    assert info.value.field == "data"


def test_decompression_bomb_is_refused_from_the_header() -> None:
    buffer = io.BytesIO()
    Image.new("L", (6000, 6000)).save(buffer, format="PNG")  # ~30 KB file, 36 Mpixel image
    assert len(buffer.getvalue()) < 100_000
    with pytest.raises(InvalidInputError, match="data: decodes to 6000x6000 = 36000000 pixels, above"):
        decode_compressed(format="png", data=buffer.getvalue())


def test_max_pixels_is_configurable() -> None:
    data = encode_compressed(_gradient(), "png")
    with pytest.raises(InvalidInputError, match="above the limit of 100"):
        decode_compressed(format="png", data=data, max_pixels=100)
