"""Results -> ROS messages: field mapping, header passed through, mask as mono8."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("rclpy")
pytest.importorskip("edge_ai_ros.msg")

from sensor_msgs.msg import Image  # noqa: E402
from std_msgs.msg import Header  # noqa: E402

from edge_ai_ros.errors import InvalidInputError  # noqa: E402
from edge_ai_ros.imaging.raw import encode_raw  # noqa: E402
from edge_ai_ros.results import Classification, Detection, FrameResult  # noqa: E402
from edge_ai_ros.ros import conversions  # noqa: E402


def _header() -> Header:
    header = Header(frame_id="cam")
    header.stamp.sec, header.stamp.nanosec = 12, 345
    return header


def test_detection_array_keeps_header_model_id_and_boxes() -> None:
    result = FrameResult(model_id="m1", task="detection", detections=(
        Detection(class_id=2, label="sign", score=0.75, box=(1.5, 2.0, 30.0, 40.25)),))
    msg = conversions.to_detection_array(result, _header())
    assert (msg.header.frame_id, msg.header.stamp.sec, msg.header.stamp.nanosec) == ("cam", 12, 345)
    assert msg.model_id == "m1"
    det = msg.detections[0]
    assert (det.class_id, det.label) == (2, "sign")
    assert (det.x_min, det.y_min, det.x_max, det.y_max) == (1.5, 2.0, 30.0, 40.25)
    assert det.score == pytest.approx(0.75)


def test_classification_and_mask_messages() -> None:
    top = Classification(class_ids=(3, 1), labels=("a", "b"), scores=(0.6, 0.3))
    msg = conversions.to_classification(FrameResult(model_id="c", task="classification", classification=top),
                                        _header())
    assert list(msg.class_ids) == [3, 1] and list(msg.labels) == ["a", "b"]
    mask = np.arange(12, dtype=np.uint8).reshape(3, 4)
    image = conversions.to_mask_image(FrameResult(model_id="s", task="segmentation", mask=mask), _header())
    assert (image.encoding, image.width, image.height, image.step) == ("mono8", 4, 3, 4)
    assert bytes(image.data) == mask.tobytes()


def test_image_to_rgb_views_the_message_and_names_bad_fields() -> None:
    rgb = np.random.default_rng(0).integers(0, 255, (4, 5, 3), dtype=np.uint8)
    raw = encode_raw(rgb, "bgr8", row_padding=3)
    msg = Image(encoding=raw.encoding, width=raw.width, height=raw.height, step=raw.step, data=raw.data)
    assert np.array_equal(conversions.image_to_rgb(msg, max_pixels=100), rgb)
    with pytest.raises(InvalidInputError, match="width"):
        conversions.image_to_rgb(msg, max_pixels=10)
