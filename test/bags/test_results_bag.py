"""DetectionArray CDR without rclpy, and a results bag that rosbags reads back."""

from __future__ import annotations

from pathlib import Path

import pytest
from rosbags.rosbag2 import Reader

from edge_ai_ros.bags.results_bag import (
    DETECTION_ARRAY,
    decode_detection_array,
    encode_detection_array,
    project_typestore,
    read_results_bag,
    write_results_bag,
)
from edge_ai_ros.errors import BagError
from edge_ai_ros.results import Detection, FrameDetections

FRAME = FrameDetections(index=0, stamp_ns=1_700_000_000_250_000_000, detections=(
    Detection(class_id=1, label="person", score=0.75, box=(1.0, 2.0, 3.5, 4.5)),))


def test_cdr_round_trip_keeps_stamp_model_and_boxes() -> None:
    decoded = decode_detection_array(encode_detection_array(FRAME, model_id="m1", frame_id="cam"))
    assert decoded.stamp_ns == FRAME.stamp_ns and decoded.model_id == "m1" and decoded.frame_id == "cam"
    assert decoded.detections == FRAME.detections


@pytest.mark.parametrize("storage", ["sqlite3", "mcap"])
def test_results_bag_is_read_back_with_input_times(tmp_path: Path, storage: str) -> None:
    raw = encode_detection_array(FRAME, model_id="m1")
    assert write_results_bag(tmp_path / "out", "/detections", [(123, raw), (456, raw)], storage=storage) == 2
    back = read_results_bag(tmp_path / "out", "/detections")
    assert [t for t, _ in back] == [123, 456] and back[0][1].detections == FRAME.detections
    with Reader(tmp_path / "out") as reader:
        conn = reader.connections[0]
        assert conn.msgtype == DETECTION_ARRAY
        assert conn.digest == project_typestore().hash_rihs01(DETECTION_ARRAY)


def test_existing_results_bag_is_not_overwritten(tmp_path: Path) -> None:
    (tmp_path / "out").mkdir()
    with pytest.raises(BagError, match="cannot write results bag"):
        write_results_bag(tmp_path / "out", "/detections", [])
