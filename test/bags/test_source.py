"""The replayed topic is checked before any node starts; each bad bag gets a clear message."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from replay_bags import TOPIC, pixels, write_bag

from edge_ai_ros.bags.source import BagSource, decode_frame
from edge_ai_ros.errors import BagError


@pytest.mark.parametrize("storage", ["sqlite3", "mcap"])
def test_compressed_sibling_is_found_and_frames_keep_order_and_stamps(tmp_path: Path, storage: str) -> None:
    bag = write_bag(tmp_path / "bag", frames=5, storage=storage)
    source = BagSource(bag, TOPIC)  # only /camera/image_raw/compressed was recorded
    assert source.topic == f"{TOPIC}/compressed"
    scan = source.scan()
    assert scan.readable_frames == scan.expected_frames == 5 and not scan.truncated
    frames = list(source.frames())
    assert [f.index for f in frames] == list(range(5))
    assert [f.stamp_ns for f in frames] == list(scan.stamps) == [f.log_time_ns for f in frames]
    assert np.array_equal(decode_frame(source.msgtype, frames[3].data), pixels(3))


def test_raw_topic_decodes_and_fingerprint_is_stable(tmp_path: Path) -> None:
    a = BagSource(write_bag(tmp_path / "a", compressed=False), TOPIC).scan()
    b = BagSource(write_bag(tmp_path / "b", compressed=False, storage="mcap"), TOPIC).scan()
    assert a.bag.fingerprint == b.bag.fingerprint  # the same frames in another storage
    c = BagSource(write_bag(tmp_path / "c", compressed=False, frames=5), TOPIC).scan()
    assert c.bag.fingerprint != a.bag.fingerprint


def test_missing_topic_lists_the_topics_that_exist(tmp_path: Path) -> None:
    bag = write_bag(tmp_path / "bag")
    with pytest.raises(BagError, match=r"'/front/image' is not in the bag; topics: /camera/image_raw/compressed "
                                       r"\[sensor_msgs/msg/CompressedImage\], /chatter \[std_msgs/msg/String\]"):
        BagSource(bag, "/front/image")


def test_topic_that_is_not_an_image_is_refused(tmp_path: Path) -> None:
    with pytest.raises(BagError, match="carries std_msgs/msg/String, not an image"):
        BagSource(write_bag(tmp_path / "bag"), "/chatter").scan()


def test_image_in_another_encoding_is_refused_once_with_the_supported_list(tmp_path: Path) -> None:
    bag = write_bag(tmp_path / "bag", compressed=False, encoding="yuv422")
    with pytest.raises(BagError, match="encoding 'yuv422'; the node reads rgb8, bgr8"):
        BagSource(bag, TOPIC).scan()


def test_empty_topic_is_refused(tmp_path: Path) -> None:
    with pytest.raises(BagError, match="has no readable frames"):
        BagSource(write_bag(tmp_path / "bag", frames=0), TOPIC).scan()


def test_missing_bag_is_refused(tmp_path: Path) -> None:
    with pytest.raises(BagError, match="bag not found"):
        BagSource(tmp_path / "nope", TOPIC)


def test_mcap_cut_short_replays_up_to_the_cut(tmp_path: Path) -> None:
    # 9 KB raw frames: rosbags closes an MCAP chunk every MiB, so the cut leaves whole chunks before it.
    bag = write_bag(tmp_path / "bag", frames=300, compressed=False, storage="mcap")
    mcap = next(bag.glob("*.mcap"))
    data = mcap.read_bytes()
    mcap.write_bytes(data[: len(data) * 3 // 4])
    source = BagSource(bag, TOPIC)
    scan = source.scan()
    assert source.salvaged == mcap and scan.truncated and scan.expected_frames == 300
    assert 100 < scan.readable_frames < 300
    assert "cut short" in scan.read_error
    frames = list(source.frames(scan.readable_frames))
    assert len(frames) == scan.readable_frames and np.array_equal(
        decode_frame(source.msgtype, frames[-1].data), pixels(len(frames) - 1))


def test_damaged_sqlite_bag_is_refused_with_the_reason(tmp_path: Path) -> None:
    bag = write_bag(tmp_path / "bag", frames=40, compressed=False)
    db3 = next(bag.glob("*.db3"))
    db3.write_bytes(db3.read_bytes()[:50_000])
    with pytest.raises(BagError, match="cannot open bag .*malformed"):
        BagSource(bag, TOPIC)


def test_crashed_recording_without_metadata_is_read_from_its_storage_file(tmp_path: Path) -> None:
    bag = write_bag(tmp_path / "bag", frames=3)
    (bag / "metadata.yaml").unlink()
    assert BagSource(bag, TOPIC).scan().readable_frames == 3
    shutil.copy(next(bag.glob("*.db3")), bag / "second.db3")
    with pytest.raises(BagError, match="no metadata.yaml and 2 storage files"):
        BagSource(bag, TOPIC)
