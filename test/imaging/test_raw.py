"""decode_raw/encode_raw: every encoding round-trips, padded rows work, bad frames name the field."""

from __future__ import annotations

import numpy as np
import pytest

from edge_ai_ros.errors import InvalidInputError
from edge_ai_ros.imaging.raw import SUPPORTED_ENCODINGS, decode_raw, encode_raw


def _image(height: int = 5, width: int = 7) -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, size=(height, width, 3), dtype=np.uint8)


@pytest.mark.parametrize("encoding", ["rgb8", "bgr8", "rgba8", "bgra8"])
@pytest.mark.parametrize("padding", [0, 3])
def test_colour_encodings_round_trip(encoding: str, padding: int) -> None:
    rgb = _image()
    raw = encode_raw(rgb, encoding, row_padding=padding)
    assert raw.step == 7 * (4 if "a" in encoding[3:] else 3) + padding
    out = decode_raw(**raw.fields())  # type: ignore[arg-type]
    assert out.shape == (5, 7, 3) and out.dtype == np.uint8
    np.testing.assert_array_equal(out, rgb)


def test_bgr8_bytes_are_reversed_channels() -> None:
    data = bytes([10, 20, 30, 40, 50, 60])  # two pixels, b g r
    out = decode_raw(encoding="bgr8", width=2, height=1, step=6, is_bigendian=0, data=data)
    assert out.tolist() == [[[30, 20, 10], [60, 50, 40]]]


def test_mono8_is_replicated_to_three_channels() -> None:
    data = bytes([0, 1, 2, 255]) + bytes([7, 8, 9, 255])  # 3 pixels + 1 padding byte per row
    out = decode_raw(encoding="mono8", width=3, height=2, step=4, is_bigendian=0, data=data)
    assert out.shape == (2, 3, 3)
    assert out[:, :, 0].tolist() == [[0, 1, 2], [7, 8, 9]]
    assert (out[:, :, 0] == out[:, :, 2]).all()


def test_rgb8_decode_is_a_view_of_the_buffer() -> None:
    raw = encode_raw(_image(), "rgb8", row_padding=2)
    buffer = bytearray(raw.data)
    out = decode_raw(**{**raw.fields(), "data": buffer})  # type: ignore[arg-type]
    buffer[0] = (buffer[0] + 1) % 256
    assert out[0, 0, 0] == buffer[0]


def test_accepts_numpy_buffer_like_rosbags() -> None:
    raw = encode_raw(_image(), "bgr8", row_padding=1)
    out = decode_raw(**{**raw.fields(), "data": np.frombuffer(raw.data, np.uint8)})  # type: ignore[arg-type]
    np.testing.assert_array_equal(out, _image())


def test_accepts_array_of_bytes_like_rclpy() -> None:
    import array

    raw = encode_raw(_image(), "rgb8")
    out = decode_raw(**{**raw.fields(), "data": array.array("B", raw.data)})  # type: ignore[arg-type]
    np.testing.assert_array_equal(out, _image())


GOOD = {"encoding": "rgb8", "width": 4, "height": 2, "step": 12, "is_bigendian": 0, "data": bytes(24)}


@pytest.mark.parametrize(
    ("changes", "field", "pattern"),
    [
        ({"encoding": "yuv422"}, "encoding", "not supported.*rgb8, bgr8, rgba8, bgra8, mono8"),
        ({"encoding": "16UC1"}, "encoding", "not supported"),
        ({"width": 0, "step": 0, "data": b""}, "width", "is 0"),
        ({"height": 0, "data": b""}, "height", "is 0"),
        ({"step": 11, "data": bytes(22)}, "step", "smaller than width\\*channels"),
        ({"data": bytes(23)}, "data", "23 bytes, expected step\\*height"),
        ({"data": bytes(25)}, "data", "25 bytes"),
    ],
)
def test_bad_frames_name_the_field(changes: dict[str, object], field: str, pattern: str) -> None:
    with pytest.raises(InvalidInputError, match=f"^{field}: .*{pattern}") as info:
        decode_raw(**{**GOOD, **changes})  # type: ignore[arg-type]
    assert info.value.field == field
    assert info.value.fix


def test_huge_frame_is_refused_before_reading_data() -> None:
    with pytest.raises(InvalidInputError, match="width: 5000x5000 = 25000000 pixels is above the limit"):
        decode_raw(encoding="rgb8", width=5000, height=5000, step=15000, is_bigendian=0, data=b"")


def test_max_pixels_is_configurable() -> None:
    with pytest.raises(InvalidInputError, match="above the limit of 7"):
        decode_raw(**GOOD, max_pixels=7)  # type: ignore[arg-type]


def test_supported_encodings_are_listed() -> None:
    assert set(SUPPORTED_ENCODINGS) == {"rgb8", "bgr8", "rgba8", "bgra8", "mono8"}
