"""Replays through the real inference node (rclpy, ONNX Runtime/OpenVINO), in-process, regression mode."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("rclpy")
pytest.importorskip("edge_ai_ros.msg")

from replay_bags import TOPIC, write_bag  # noqa: E402
from tiny_detector import build_detector  # noqa: E402

from edge_ai_ros.bags.results_bag import read_results_bag  # noqa: E402
from edge_ai_ros.bags.source import BagSource  # noqa: E402
from edge_ai_ros.errors import BagError, ConfigError  # noqa: E402
from edge_ai_ros.replay.golden import load_golden  # noqa: E402
from edge_ai_ros.replay.session import ReplayJob  # noqa: E402
from edge_ai_ros.ros.drivers.replay_process import run_replay  # noqa: E402


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_detector(tmp_path_factory.mktemp("model"))


def _job(bag: Path, model: Path, out: Path, **kw: object) -> ReplayJob:
    return ReplayJob(bag=str(bag), topic=TOPIC, manifest=str(model), out_dir=str(out), backend="onnxruntime",
                     measure_engine=False, frame_timeout_s=5.0, **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize("compressed", [True, False])
def test_every_frame_answered_with_its_stamp_and_results_bag_reads_back(tmp_path: Path, model: Path,
                                                                        compressed: bool) -> None:
    bag = write_bag(tmp_path / "bag", frames=12, compressed=compressed)
    result = run_replay(_job(bag, model, tmp_path / "out", record_golden=True))
    stamps = list(BagSource(bag, TOPIC).scan().stamps)
    assert result.verdict == "recorded" and result.frames_answered == result.frames_published == 12
    golden = load_golden(result.golden_written)
    assert [f.stamp_ns for f in golden.frames] == stamps and [f.index for f in golden.frames] == list(range(12))
    assert sum(len(f.detections) for f in golden.frames) >= 12  # the tiny detector finds something each frame
    back = read_results_bag(result.results_bag, "/detections")
    assert [d.stamp_ns for _, d in back] == stamps
    assert [t for t, _ in back] == stamps  # log times of the input frames (equal to their stamps here)
    assert {d.model_id for _, d in back} == {"tiny-detector"}
    assert result.latency_ms["p50"] > 0 and Path(result.report).is_file()
    assert result.stages_ms["total"]["max"] == pytest.approx(result.latency_ms["max"])
    assert "Where the time went" in Path(result.report).read_text()


def test_second_run_matches_golden_and_another_model_is_refused(tmp_path: Path, model: Path) -> None:
    bag = write_bag(tmp_path / "bag", frames=8)
    golden = tmp_path / "bag.golden.json"
    run_replay(_job(bag, model, tmp_path / "rec", record_golden=True, golden=str(golden)))
    result = run_replay(_job(bag, model, tmp_path / "cmp", golden=str(golden)))
    assert result.verdict == "pass" and result.map50 == pytest.approx(1.0) and result.recall == 1.0
    assert "Frames that differ most" not in Path(result.report).read_text()  # rounding is no difference
    summary = json.loads((tmp_path / "cmp" / "summary.json").read_text())
    assert summary["verdict"] == "pass"
    other = build_detector(tmp_path / "other", model_id="other")
    data = json.loads(golden.read_text())
    data["model"]["source_onnx_sha256"] = "f" * 64
    golden.write_text(json.dumps(data))
    with pytest.raises(ConfigError, match="another network"):
        run_replay(_job(bag, other, tmp_path / "x", golden=str(golden)))


def test_golden_of_another_bag_is_refused_before_replaying(tmp_path: Path, model: Path) -> None:
    golden = tmp_path / "g.json"
    run_replay(_job(write_bag(tmp_path / "a", frames=4), model, tmp_path / "ra", record_golden=True, golden=str(golden)))
    with pytest.raises(ConfigError, match="a different recording"):
        run_replay(_job(write_bag(tmp_path / "b", frames=5), model, tmp_path / "rb", golden=str(golden)))
    assert not (tmp_path / "rb").exists()


def test_cut_short_bag_keeps_what_it_replayed_and_fails_with_how_far(tmp_path: Path, model: Path) -> None:
    bag = write_bag(tmp_path / "bag", frames=300, compressed=False, storage="mcap", other_topics=False)
    mcap = next(bag.glob("*.mcap"))
    mcap.write_bytes(mcap.read_bytes()[: mcap.stat().st_size * 3 // 4])
    result = run_replay(_job(bag, model, tmp_path / "out"))
    assert result.verdict == "fail" and "bag truncated: read" in result.reason and "of 300 frames" in result.reason
    assert 100 < result.frames_answered == result.frames_read < 300
    assert len(load_golden(result.detections_json).frames) == result.frames_read
    assert "bag truncated" in Path(result.report).read_text()


def test_missing_topic_fails_before_the_node_starts(tmp_path: Path, model: Path) -> None:
    with pytest.raises(BagError, match="topics: /camera/image_raw/compressed"):
        run_replay(ReplayJob(bag=str(write_bag(tmp_path / "bag")), topic="/lidar", manifest=str(model),
                             out_dir=str(tmp_path / "out")))
