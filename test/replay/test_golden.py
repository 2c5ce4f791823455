"""Golden files: round trip, and refusal of goldens made on another bag or by another model."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge_ai_ros.bags.fingerprint import BagIdentity, fingerprint_messages
from edge_ai_ros.errors import ConfigError
from edge_ai_ros.replay.golden import (
    ModelIdentity,
    check_same_bag,
    check_same_model,
    load_golden,
    make_golden,
    save_golden,
)
from edge_ai_ros.results import Detection, FrameDetections

MODEL = ModelIdentity(model_id="det-fp32", source_onnx_sha256="a" * 64, labels=("car", "person"), precision="fp32")
BAG = BagIdentity(name="drive", topic="/camera/image_raw", fingerprint=fingerprint_messages([(1, b"x")]),
                  frame_count=2)


def _golden() -> object:
    frames = [
        FrameDetections(index=0, stamp_ns=1_000_000_001, detections=(
            Detection(class_id=0, label="car", score=0.91234567, box=(1.5, 2.25, 30.0, 40.125)),
            Detection(class_id=1, label="person", score=0.5, box=(5.0, 6.0, 7.0, 8.0)),
        )),
        FrameDetections(index=1, stamp_ns=2_000_000_002, detections=()),
    ]
    return make_golden(model=MODEL, bag=BAG, frames=frames, metadata={"backend": "onnxruntime"})


def test_golden_round_trip(tmp_path: Path) -> None:
    golden = _golden()
    path = save_golden(golden, tmp_path / "g" / "drive.golden.json")
    loaded = load_golden(path)
    assert loaded.model == MODEL and loaded.bag == BAG
    assert loaded.metadata == {"backend": "onnxruntime"}
    assert [f.stamp_ns for f in loaded.frames] == [1_000_000_001, 2_000_000_002]
    first = loaded.frames[0].detections[0]
    assert first.label == "car" and first.box == (1.5, 2.25, 30.0, 40.125)
    assert first.score == pytest.approx(0.91234567, abs=1e-6)
    assert loaded.by_stamp()[2_000_000_002].detections == ()


def test_fingerprint_depends_on_bytes_and_times() -> None:
    base = fingerprint_messages([(1, b"a"), (2, b"b")])
    assert base == fingerprint_messages([(1, b"a"), (2, b"b")])
    assert base != fingerprint_messages([(1, b"a"), (2, b"c")])
    assert base != fingerprint_messages([(1, b"a"), (3, b"b")])
    assert base != fingerprint_messages([(1, b"a")])


@pytest.mark.parametrize("text,match", [
    ("not json", "not a readable golden"),
    ('{"schema": "other/1"}', "schema is 'other/1'"),
    ('{"schema": "edge_ai_ros.golden/1", "model": {}}', "KeyError"),
])
def test_unreadable_golden_is_refused_with_the_reason(tmp_path: Path, text: str, match: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(text)
    with pytest.raises(ConfigError, match=match):
        load_golden(path)


def test_missing_golden_says_how_to_make_one(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="record-golden"):
        load_golden(tmp_path / "none.json")


def test_golden_of_another_bag_is_refused() -> None:
    other = BagIdentity(name="other", topic=BAG.topic, fingerprint=fingerprint_messages([(1, b"y")]), frame_count=2)
    with pytest.raises(ConfigError, match="a different recording"):
        check_same_bag(_golden(), other, "g.json")
    moved = BagIdentity(name="drive", topic="/other", fingerprint=BAG.fingerprint, frame_count=2)
    with pytest.raises(ConfigError, match="recorded on topic '/camera/image_raw'"):
        check_same_bag(_golden(), moved, "g.json")
    check_same_bag(_golden(), BAG, "g.json")


def test_golden_of_another_model_is_refused_but_other_engines_of_it_pass() -> None:
    int8 = ModelIdentity(model_id="det-int8", source_onnx_sha256="a" * 64, labels=MODEL.labels, precision="int8")
    check_same_model(_golden(), int8, "g.json")
    other = ModelIdentity(model_id="seg", source_onnx_sha256="b" * 64, labels=MODEL.labels)
    with pytest.raises(ConfigError, match="another network"):
        check_same_model(_golden(), other, "g.json")
    relabelled = ModelIdentity(model_id="x", source_onnx_sha256="a" * 64, labels=("cat",))
    with pytest.raises(ConfigError, match="labels"):
        check_same_model(_golden(), relabelled, "g.json")
