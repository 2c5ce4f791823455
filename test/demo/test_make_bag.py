"""The demo bag: a smooth 10 Hz drive of JPEG frames with ground truth, reproducible from its seed."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from edge_ai_ros.bags.reader import BagReader
from edge_ai_ros.demo.make_bag import DEFAULT_OUT, FRAME_ID, GROUND_TRUTH_NAME, PERIOD_NS, TOPIC, make_demo_bag


def test_small_drive_roundtrip(tmp_path: Path) -> None:
    out = make_demo_bag(tmp_path / "drive", seed=3, frames=4)
    truth = json.loads((out / GROUND_TRUTH_NAME).read_text())
    assert truth["labels"] == ["vehicle", "pedestrian", "traffic_sign"] and len(truth["frames"]) == 4
    with BagReader(out) as bag:
        assert bag.topics()[TOPIC].msgtype == "sensor_msgs/msg/CompressedImage"
        frames = list(bag.images(TOPIC))
    assert [f.stamp_ns for f in frames] == [t["stamp_ns"] for t in truth["frames"]]
    assert np.all(np.diff([f.stamp_ns for f in frames]) == PERIOD_NS)
    assert {f.frame_id for f in frames} == {FRAME_ID} and frames[0].image.shape == (480, 640, 3)
    # consecutive frames are a sequence: similar, not identical
    step = np.abs(frames[1].image.astype(int) - frames[0].image.astype(int)).mean()
    assert 0.1 < step < 20.0
    assert [p.name for p in tmp_path.iterdir()] == ["drive"]  # no staging leftovers


def test_same_seed_same_bag(tmp_path: Path) -> None:
    a = make_demo_bag(tmp_path / "a", seed=5, frames=2)
    b = make_demo_bag(tmp_path / "b", seed=5, frames=2)
    assert (a / GROUND_TRUTH_NAME).read_text() == (b / GROUND_TRUTH_NAME).read_text()
    with BagReader(a) as bag_a, BagReader(b) as bag_b:
        assert [m[2] for m in bag_a.messages(TOPIC)] == [m[2] for m in bag_b.messages(TOPIC)]


def test_shipped_bag_matches_its_ground_truth() -> None:
    truth = json.loads((DEFAULT_OUT / GROUND_TRUTH_NAME).read_text())
    assert sum(f.stat().st_size for f in DEFAULT_OUT.iterdir()) < 6 * 1024 * 1024
    with BagReader(DEFAULT_OUT) as bag:
        info = bag.topics()[TOPIC]
        stamps = [m[0] for m in bag.messages(TOPIC)]
    assert info.count == len(truth["frames"]) == 100
    assert stamps == [f["stamp_ns"] for f in truth["frames"]]
    assert sum(len(f["boxes"]) for f in truth["frames"]) > 300
