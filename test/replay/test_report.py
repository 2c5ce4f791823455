"""The report: markdown and HTML with the metrics, and overlays with golden and candidate colours."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
from PIL import Image

from edge_ai_ros.bags.fingerprint import BagIdentity
from edge_ai_ros.imaging.draw import CANDIDATE_STYLE_COLOUR, GOLDEN_STYLE_COLOUR
from edge_ai_ros.replay.compare import Tolerances, compare_runs
from edge_ai_ros.replay.golden import ModelIdentity, make_golden
from edge_ai_ros.replay.report import ReportInput, latency_percentiles, stage_percentiles, write_report
from edge_ai_ros.results import Detection, FrameDetections

CAR = Detection(class_id=0, label="car", score=0.9, box=(10.0, 10.0, 60.0, 50.0))
BAG = BagIdentity(name="b", topic="/t", fingerprint="sha256:0", frame_count=2)
MODEL = ModelIdentity(model_id="m", labels=("car",))


def _summary() -> object:
    def run(dets: list[tuple[Detection, ...]]) -> object:
        return make_golden(model=MODEL, bag=BAG, frames=[
            FrameDetections(index=i, stamp_ns=i, detections=d) for i, d in enumerate(dets)])
    moved = dataclasses.replace(CAR, box=(40.0, 30.0, 90.0, 70.0))
    return compare_runs(run([(CAR,), (CAR,)]), run([(moved,), (CAR,)]), Tolerances())


def _has_colour(png: Path, colour: tuple[int, int, int]) -> bool:
    pixels = np.asarray(Image.open(png).convert("RGB")).reshape(-1, 3)
    return bool(np.any(np.all(pixels == np.asarray(colour, np.uint8), axis=1)))


def test_report_files_metrics_and_two_colour_overlays(tmp_path: Path) -> None:
    summary = _summary()
    data = ReportInput(title="Replay of b: FAIL", facts=[("bag", "b")], latencies_s=[0.010, 0.020, 0.030],
                       throughput_fps={"engine only": 250.0}, comparison=summary, notes=["bag truncated: read 2 of 3"])
    gray = np.full((100, 120, 3), 90, np.uint8)
    files = write_report(data, {0: gray, 1: gray}.get, tmp_path)
    md, page = files.markdown.read_text(), files.html.read_text()
    for text in (md, page):
        assert "mAP@0.5 vs golden" in text and "FAIL" in text and "bag truncated" in text
        assert "engine only (frames/s)" in text and "latency p99 (ms)" in text
    assert len(files.overlays) == 1 and files.overlays[0].name == "frame_00000.png"  # only the frame that differs
    assert "overlays/frame_00000.png" in md and 'src="overlays/frame_00000.png"' in page
    assert _has_colour(files.overlays[0], GOLDEN_STYLE_COLOUR)
    assert _has_colour(files.overlays[0], CANDIDATE_STYLE_COLOUR)


def test_report_without_golden_has_latency_and_no_overlays(tmp_path: Path) -> None:
    files = write_report(ReportInput(title="t", facts=[], latencies_s=[0.001]), lambda i: None, tmp_path)
    assert files.overlays == () and "latency p50 (ms)" in files.markdown.read_text()


def test_latency_percentiles_in_milliseconds() -> None:
    stats = latency_percentiles([i / 1000 for i in range(1, 101)])
    assert stats["p50"] == np.percentile(np.arange(1, 101), 50)
    assert stats["max"] == 100.0 and stats["count"] == 100 and latency_percentiles([]) == {}


def test_stage_table_per_stage_percentiles_over_frames_that_have_the_stage(tmp_path: Path) -> None:
    frames = [{"transport_in": float(i), "inference": 4.0, "total": 10.0 + i} for i in range(101)]
    frames.append({"total": 1000.0})  # a frame without the node's record still counts in total only
    stages = stage_percentiles(frames)
    assert list(stages) == ["transport_in", "inference", "total"]
    assert stages["transport_in"]["p50"] == 50.0 and stages["transport_in"]["max"] == 100.0
    assert stages["inference"] == {"count": 101, "mean": 4.0, "p50": 4.0, "p90": 4.0, "p99": 4.0, "max": 4.0}
    assert stages["total"]["max"] == 1000.0
    data = ReportInput(title="t", facts=[], latencies_s=[0.01], stages_ms=stages)
    files = write_report(data, {}.get, tmp_path)
    markdown = files.markdown.read_text()
    assert "## Where the time went, per frame" in markdown and "| transport_in | 50.00 | 90.00 |" in markdown
    assert "<td>inference</td><td>4.00</td>" in files.html.read_text()
    assert "Where the time went" not in write_report(ReportInput(title="t", facts=[], latencies_s=[0.01]),
                                                     {}.get, tmp_path / "none").markdown.read_text()
