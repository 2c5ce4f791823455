"""Bag writer -> reader roundtrips with real rosbags files, and the errors a user sees."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edge_ai_ros.bags.reader import BagReader, list_topics, sample_evenly
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


@pytest.mark.parametrize("storage", ["sqlite3", "mcap"])
def test_roundtrip_raw_and_compressed(tmp_path: Path, storage: str) -> None:
    bag_path = tmp_path / "bag"
    frames = _write(bag_path, storage=storage)
    topics = list_topics(bag_path)
    assert topics[TOPIC_RAW].msgtype == "sensor_msgs/msg/Image" and topics[TOPIC_RAW].count == 5
    assert topics[TOPIC_JPEG].msgtype == "sensor_msgs/msg/CompressedImage"
    with BagReader(bag_path) as bag:
        raw = list(bag.images(TOPIC_RAW))
        jpeg = list(bag.images(TOPIC_JPEG))
        messages = list(bag.messages(TOPIC_RAW))
    assert [m.stamp_ns - raw[0].stamp_ns for m in raw] == [i * 100_000_000 for i in range(5)]
    assert all(m.frame_id == "cam0" and m.timestamp_ns == m.stamp_ns for m in raw)
    for got, want in zip(raw, frames, strict=True):
        np.testing.assert_array_equal(got.image, want)
    for got, want in zip(jpeg, frames, strict=True):
        assert got.image.shape == want.shape
        assert np.abs(got.image.astype(int) - want.astype(int)).mean() < 6.0
    assert messages[0][1] == "sensor_msgs/msg/Image" and isinstance(messages[0][2], bytes)


def test_missing_bag_is_reported(tmp_path: Path) -> None:
    with pytest.raises(BagError, match="bag not found"):
        BagReader(tmp_path / "nope")


def test_missing_topic_lists_existing_topics(tmp_path: Path) -> None:
    _write(tmp_path / "bag", n=2)
    with BagReader(tmp_path / "bag") as bag, pytest.raises(BagError, match=r"/camera/image_raw \(sensor_msgs"):
        next(bag.messages("/front/image"))


def test_truncated_bag_says_how_far_it_got(tmp_path: Path) -> None:
    frames = np.random.default_rng(1).integers(0, 255, (40, 120, 160, 3), dtype=np.uint8)  # 2.3 MB: 3 chunks
    with ImageBagWriter(tmp_path / "bag", BagWriterConfig(storage="mcap")) as writer:
        for i, frame in enumerate(frames):
            writer.write_image(TOPIC_RAW, frame, (i + 1) * 1000)
    storage = next((tmp_path / "bag").glob("*.mcap"))
    data = storage.read_bytes()
    storage.write_bytes(data[: len(data) * 3 // 4])  # a recorder killed before the end
    read: list[int] = []
    with BagReader(tmp_path / "bag") as bag:
        assert bag.topics()[TOPIC_RAW].count == 40  # what metadata.yaml promised
        with pytest.raises(BagError, match=r"truncated or corrupt: read \d+ messages of /camera/image_raw"):
            for _, _, cdr in bag.messages(TOPIC_RAW):
                read.append(len(cdr))
    assert 10 <= len(read) < 40  # the intact front was read


def test_corrupt_sqlite_bag(tmp_path: Path) -> None:
    _write(tmp_path / "bag", n=3)
    storage = next((tmp_path / "bag").glob("*.db3"))
    storage.write_bytes(b"\0" * 4096)
    with pytest.raises(BagError, match=r"truncated or corrupt"):
        with BagReader(tmp_path / "bag") as bag:
            list(bag.messages(TOPIC_RAW))


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


@pytest.mark.parametrize(("n", "cap", "expected"), [
    (10, 3, [0, 4, 9]), (5, 10, [0, 1, 2, 3, 4]), (7, 1, [0]), (0, 4, []), (100, 2, [0, 99]),
])
def test_sample_evenly(n: int, cap: int, expected: list[int]) -> None:
    assert sample_evenly(n, cap) == expected
