"""The demo's report matches answers to frames by stamp and scores them against ground truth."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from edge_ai_ros.demo import run_report as rr
from edge_ai_ros.errors import ConfigError
from edge_ai_ros.results import Detection

CAR = Detection(class_id=0, label="car", score=0.9, box=(10.0, 10.0, 50.0, 40.0))


def test_outputs_are_matched_by_stamp_and_missing_ones_count_as_unanswered() -> None:
    published = [(0, 100, 1000), (1, 200, 2000), (2, 300, 3000)]
    received = [(3000, 0.02, (CAR,)), (1000, 0.01, ())]
    out = rr.match_outputs(published, received)
    assert [(o.index, o.latency_s, o.detections) for o in out] == [(0, 0.01, ()), (1, None, None), (2, 0.02, (CAR,))]


def test_summary_scores_perfect_detections_as_map_one(tmp_path: Path) -> None:
    truth_path = tmp_path / "gt.json"
    truth_path.write_text(json.dumps({"labels": ["car", "person"],
                                      "frames": [{"index": 0, "boxes": [list(CAR.box)], "class_ids": [0]}]}))
    truth = rr.load_ground_truth(truth_path)
    outcomes = rr.match_outputs([(0, 1, 5)], [(5, 0.004, (CAR,))])
    summary = rr.summarize(outcomes, model_id="m", backend="onnxruntime", bag="b", wall_s=0.5,
                           diagnostics={"inference_ms_p50": "1.5"}, truth=truth)
    assert summary.map50 is not None and summary.map50["map"] == pytest.approx(1.0)
    assert summary.detections_per_class == {"car": 1} and summary.engine_ms == {"p50": 1.5}
    assert summary.latency_ms is not None and summary.latency_ms["p50"] == pytest.approx(4.0) and summary.fps == 2.0
    assert summary.latency_ms["count"] == 1
    assert "| car | 1 | 1.000 |" in rr.to_markdown(summary)
    assert json.loads(summary.to_json())["frames_answered"] == 1


def test_sheet_shows_boxes_in_the_class_colour() -> None:
    outcome = rr.FrameOutcome(index=3, bag_time_ns=0, latency_s=0.01, detections=(CAR,))
    image = np.zeros((60, 80, 3), np.uint8)
    sheet = rr.render_sheet([(outcome, image)], title="t", tile_width=160)
    assert sheet.shape[1] == 160 + 2 * 6
    assert (sheet.reshape(-1, 3) == np.array([31, 119, 230])).all(axis=1).sum() > 100


def test_unreadable_ground_truth_names_the_field(tmp_path: Path) -> None:
    (tmp_path / "gt.json").write_text("{}")
    with pytest.raises(ConfigError, match="ground_truth"):
        rr.load_ground_truth(tmp_path / "gt.json")
