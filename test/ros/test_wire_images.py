"""imaging/wire.py against the real serializers: rclpy's (what the node receives) and rosbags' (big endian).

The node takes frames as serialized bytes, so these reads are its whole message parsing:
every field must come out as rclpy would give it, pixels must be views, and anything
truncated or foreign must be an InvalidInputError that names a field.
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("rclpy")
pytest.importorskip("edge_ai_ros.msg")

from rclpy.serialization import serialize_message  # noqa: E402
from sensor_msgs.msg import CompressedImage, Image  # noqa: E402
from std_msgs.msg import Header  # noqa: E402

from edge_ai_ros.errors import InvalidInputError  # noqa: E402
from edge_ai_ros.imaging.compressed import encode_compressed  # noqa: E402
from edge_ai_ros.imaging.raw import encode_raw  # noqa: E402
from edge_ai_ros.imaging.wire import parse_compressed_image, parse_image  # noqa: E402
from edge_ai_ros.ros import conversions  # noqa: E402


def _header(frame_id: str, sec: int = -7, nanosec: int = 999_999_999) -> Header:
    header = Header(frame_id=frame_id)
    header.stamp.sec, header.stamp.nanosec = sec, nanosec
    return header


# frame ids of every length mod 4 move all later fields across alignment boundaries
@pytest.mark.parametrize("frame_id", ["", "c", "ca", "cam", "cam0", "kamera_vorn_ü"])
@pytest.mark.parametrize("encoding", ["rgb8", "bgra8", "mono8"])
def test_image_fields_match_what_rclpy_serialized(frame_id: str, encoding: str) -> None:
    rgb = np.random.default_rng(len(frame_id)).integers(0, 255, (5, 7, 3), dtype=np.uint8)
    raw = encode_raw(rgb, encoding, row_padding=len(frame_id) % 3)
    msg = Image(header=_header(frame_id), height=raw.height, width=raw.width, encoding=raw.encoding,
                is_bigendian=0, step=raw.step, data=raw.data)
    wire = parse_image(serialize_message(msg))
    assert (wire.header.stamp_sec, wire.header.stamp_nanosec, wire.header.frame_id) == (-7, 999_999_999, frame_id)
    assert (wire.height, wire.width, wire.encoding, wire.is_bigendian, wire.step) == (
        msg.height, msg.width, msg.encoding, 0, msg.step)
    assert bytes(wire.data) == bytes(msg.data)
    header, out = conversions.serialized_image_to_rgb(serialize_message(msg), max_pixels=1000)
    assert (header.frame_id, header.stamp.sec, header.stamp.nanosec) == (frame_id, -7, 999_999_999)
    expected = conversions.image_to_rgb(msg, max_pixels=1000)
    assert np.array_equal(out, expected)


def test_pixels_are_viewed_in_place_not_copied() -> None:
    msg = Image(header=_header("cam"), height=480, width=640, encoding="rgb8", step=1920,
                data=bytes(640 * 480 * 3))
    raw = serialize_message(msg)
    wire = parse_image(raw)
    assert wire.data.obj is raw  # a slice of the bytes rclpy handed over
    assert len(wire.data) == 640 * 480 * 3


def test_compressed_image_matches_rclpy_and_decodes() -> None:
    rgb = np.random.default_rng(1).integers(0, 255, (6, 8, 3), dtype=np.uint8)
    msg = CompressedImage(header=_header("front", 3, 4), format="png", data=encode_compressed(rgb, "png"))
    wire = parse_compressed_image(serialize_message(msg))
    assert (wire.header.frame_id, wire.header.stamp_sec, wire.format) == ("front", 3, "png")
    header, out = conversions.serialized_compressed_to_rgb(serialize_message(msg), max_pixels=1000)
    assert header.stamp.nanosec == 4 and np.array_equal(out, rgb)


def test_big_endian_cdr_reads_the_same_fields() -> None:
    rosbags = pytest.importorskip("rosbags.typesys")
    store = rosbags.get_typestore(rosbags.Stores.ROS2_JAZZY)
    Stamp = store.types["builtin_interfaces/msg/Time"]  # noqa: N806 - rosbags type names
    RosHeader = store.types["std_msgs/msg/Header"]  # noqa: N806
    RosImage = store.types["sensor_msgs/msg/Image"]  # noqa: N806
    pixels = np.arange(2 * 3 * 3, dtype=np.uint8)
    msg = RosImage(header=RosHeader(stamp=Stamp(sec=5, nanosec=6), frame_id="abc"), height=2, width=3,
                   encoding="rgb8", is_bigendian=0, step=9, data=pixels)
    big = bytes(store.serialize_cdr(msg, "sensor_msgs/msg/Image", little_endian=False))
    assert big[:2] == b"\x00\x00"
    wire = parse_image(big)
    assert (wire.header.stamp_sec, wire.header.stamp_nanosec, wire.header.frame_id) == (5, 6, "abc")
    assert (wire.height, wire.width, wire.step) == (2, 3, 9)
    assert bytes(wire.data) == pixels.tobytes()


def test_every_truncation_is_an_invalid_input_naming_a_field() -> None:
    msg = Image(header=_header("cam"), height=2, width=2, encoding="mono8", step=2, data=bytes(4))
    raw = serialize_message(msg)
    for cut in range(len(raw)):
        with pytest.raises(InvalidInputError) as info:
            parse_image(raw[:cut])
        assert info.value.field.startswith("image")


def test_foreign_encapsulation_is_refused_with_its_id() -> None:
    raw = bytearray(serialize_message(CompressedImage(format="jpeg")))
    raw[1] = 0x03  # parameter-list CDR, which ROS 2 never uses for these types
    with pytest.raises(InvalidInputError, match="0x0003"):
        parse_compressed_image(bytes(raw))
