"""The demo bag: a smooth 10 Hz drive of JPEG frames with ground truth, reproducible from its seed."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from edge_ai_ros.bags.source import COMPRESSED, BagSource, decode_frame
from edge_ai_ros.demo.make_bag import DEFAULT_OUT, FRAME_ID, GROUND_TRUTH_NAME, PERIOD_NS, TOPIC, make_demo_bag


def test_small_drive_roundtrip(tmp_path: Path) -> None:
    out = make_demo_bag(tmp_path / "drive", seed=3, frames=4)
    truth = json.loads((out / GROUND_TRUTH_NAME).read_text())
    assert truth["labels"] == ["vehicle", "pedestrian", "traffic_sign"] and len(truth["frames"]) == 4
    source = BagSource(out, TOPIC)
    assert source.msgtype == COMPRESSED
    frames = list(source.frames())
    images = [decode_frame(COMPRESSED, f.data) for f in frames]
    assert [f.stamp_ns for f in frames] == [t["stamp_ns"] for t in truth["frames"]]
    assert np.all(np.diff([f.stamp_ns for f in frames]) == PERIOD_NS)
    assert FRAME_ID.encode() in frames[0].data and images[0].shape == (480, 640, 3)
    # consecutive frames are a sequence: similar, not identical
    step = np.abs(images[1].astype(int) - images[0].astype(int)).mean()
    assert 0.1 < step < 20.0
    assert [p.name for p in tmp_path.iterdir()] == ["drive"]  # no staging leftovers


def test_same_seed_same_bag(tmp_path: Path) -> None:
    a = make_demo_bag(tmp_path / "a", seed=5, frames=2)
    b = make_demo_bag(tmp_path / "b", seed=5, frames=2)
    assert (a / GROUND_TRUTH_NAME).read_text() == (b / GROUND_TRUTH_NAME).read_text()
    assert [f.data for f in BagSource(a, TOPIC).frames()] == [f.data for f in BagSource(b, TOPIC).frames()]


def test_shipped_bag_matches_its_ground_truth() -> None:
    truth = json.loads((DEFAULT_OUT / GROUND_TRUTH_NAME).read_text())
    assert sum(f.stat().st_size for f in DEFAULT_OUT.iterdir()) < 6 * 1024 * 1024
    source = BagSource(DEFAULT_OUT, TOPIC)
    stamps = [f.log_time_ns for f in source.frames()]
    assert source.expected == len(truth["frames"]) == 100
    assert stamps == [f["stamp_ns"] for f in truth["frames"]]
    assert sum(len(f["boxes"]) for f in truth["frames"]) > 300
