"""Bag writer -> bags.source roundtrips with real rosbags files, and the writer's errors.

The reading errors (missing bag or topic, cut-short MCAP, damaged sqlite) are in test_source.py."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from rosbags.typesys import Stores, get_typestore

from edge_ai_ros.bags.source import COMPRESSED, IMAGE, BagSource, decode_frame
from edge_ai_ros.bags.writer import BagWriterConfig, ImageBagWriter
from edge_ai_ros.errors import BagError, ConfigError

TOPIC_RAW = "/camera/image_raw"
TOPIC_JPEG = "/camera/image_raw/compressed"


def _frames(n: int) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    frames = []
    for i in range(n):
        frame = np.zeros((48, 64, 3), np.uint8)
        frame[:, : 8 * (i + 1) % 64] = (200, 40, 10)  # smooth content so jpeg stays close
        frame[10:20, 10:30] = rng.integers(0, 255, 3)
        frames.append(frame)
    return frames


def _write(path: Path, n: int = 5, storage: str = "sqlite3") -> list[np.ndarray]:
    frames = _frames(n)
    with ImageBagWriter(path, BagWriterConfig(storage=storage)) as bag:
        for i, frame in enumerate(frames):
            stamp = 1_700_000_000_000_000_000 + i * 100_000_000
            bag.write_image(TOPIC_RAW, frame, stamp, frame_id="cam0")
            bag.write_compressed(TOPIC_JPEG, frame, stamp, frame_id="cam0")
    return frames


def _header(msgtype: str, cdr: bytes) -> tuple[int, str]:
    msg: Any = get_typestore(Stores.ROS2_JAZZY).deserialize_cdr(cdr, msgtype)
    return msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec, msg.header.frame_id


@pytest.mark.parametrize("storage", ["sqlite3", "mcap"])
def test_roundtrip_raw_and_compressed(tmp_path: Path, storage: str) -> None:
    bag_path = tmp_path / "bag"
    frames = _write(bag_path, storage=storage)
    raw_source, jpeg_source = BagSource(bag_path, TOPIC_RAW), BagSource(bag_path, TOPIC_JPEG)
    assert raw_source.msgtype == IMAGE and raw_source.expected == 5
    assert jpeg_source.msgtype == COMPRESSED and jpeg_source.expected == 5
    raw, jpeg = list(raw_source.frames()), list(jpeg_source.frames())
    assert [f.stamp_ns - raw[0].stamp_ns for f in raw] == [i * 100_000_000 for i in range(5)]
    assert all(f.log_time_ns == f.stamp_ns for f in raw)
    assert {_header(IMAGE, f.data) for f in raw} == {(f.stamp_ns, "cam0") for f in raw}
    for got, want in zip(raw, frames, strict=True):
        np.testing.assert_array_equal(decode_frame(IMAGE, got.data), want)
    for got, want in zip(jpeg, frames, strict=True):
        image = decode_frame(COMPRESSED, got.data)
        assert image.shape == want.shape
        assert np.abs(image.astype(int) - want.astype(int)).mean() < 6.0


def test_writer_refuses_existing_path_and_bad_config(tmp_path: Path) -> None:
    with pytest.raises(BagError, match="exists already"):
        ImageBagWriter(tmp_path)
    with pytest.raises(ConfigError, match="storage"):
        BagWriterConfig(storage="rosbag1")


def test_failed_write_leaves_no_bag(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError), ImageBagWriter(tmp_path / "bag") as bag:
        bag.write_image(TOPIC_RAW, _frames(1)[0], 1)
        raise RuntimeError("crash mid-recording")
    assert list(tmp_path.iterdir()) == []
