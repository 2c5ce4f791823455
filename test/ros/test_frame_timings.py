"""Per-frame stage times: the message round trip and the benchmark's per-frame arithmetic."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("std_msgs")

from edge_ai_ros.benchmarks.node_report import (  # noqa: E402
    BenchResult,
    FrameLog,
    baseline_rows,
    format_table,
    node_rows,
    spreads,
    write_json,
)
from edge_ai_ros.ros import frame_timings  # noqa: E402
from edge_ai_ros.serving.frame_times import FrameTimes  # noqa: E402


def _times(stamp_ns: int, callback: float, inference_s: float) -> FrameTimes:
    """A frame: 0.1 ms queue, 0.05 conversion, 2 ms preprocess, inference, 0.4 decode, 0.3 publish."""
    converted = callback + 0.00015
    ran = converted + 0.002 + inference_s + 0.0004
    sec, nanosec = divmod(stamp_ns, 1_000_000_000)
    return FrameTimes(stamp_sec=sec, stamp_nanosec=nanosec, callback=callback, dequeued=callback + 0.0001,
                      converted=converted, preprocess_s=0.002, inference_s=inference_s, postprocess_s=0.0004,
                      ran=ran, published=ran + 0.0003)


def test_message_round_trip_keeps_every_field() -> None:
    times = _times(1_795_000_000_123_456_789, 1234.5, 0.005)
    back = frame_timings.from_msg(frame_timings.to_msg(times))
    assert back == times
    assert back is not None and back.stamp_ns == 1_795_000_000_123_456_789


def test_a_record_with_another_layout_is_ignored() -> None:
    msg = frame_timings.to_msg(_times(1, 1.0, 0.001))
    msg.layout.dim[0].label = "callback,published"
    assert frame_timings.from_msg(msg) is None


def test_stages_add_up_to_the_time_in_node() -> None:
    stages = _times(1, 10.0, 0.005).stages_ms()
    assert stages["queue_wait"] == pytest.approx(0.1)
    assert stages["inference"] == pytest.approx(5.0)
    assert stages["build_publish"] == pytest.approx(0.3)
    parts = sum(v for k, v in stages.items() if k != "node_total")
    assert parts == pytest.approx(stages["node_total"])


def test_overhead_is_per_frame_not_a_difference_of_percentiles() -> None:
    # frame A: slow engine, fast elsewhere; frame B: fast engine, slow transport
    sent = {1: 100.0, 2: 200.0}
    log = FrameLog()
    log.timings = {1: _times(1, 100.001, 0.020), 2: _times(2, 200.010, 0.002)}
    log.received = {s: t.published + 0.0005 for s, t in log.timings.items()}
    rows = node_rows(sent, log)
    for e2e, overhead, inference in zip(rows["end_to_end"], rows["overhead"], rows["inference"], strict=True):
        assert overhead == pytest.approx(e2e - inference)
    assert rows["transport_in"] == pytest.approx([1.0, 10.0])
    assert rows["transport_out"] == pytest.approx([0.5, 0.5])
    # end_to_end = transport in + in node + transport out, frame by frame
    for i in range(2):
        total = rows["transport_in"][i] + rows["node_total"][i] + rows["transport_out"][i]
        assert rows["end_to_end"][i] == pytest.approx(total)


def test_frames_without_a_record_or_answer_are_left_out() -> None:
    log = FrameLog()
    log.timings = {1: _times(1, 1.001, 0.001)}
    log.received = {1: 1.02, 2: 2.02}  # frame 2 has no timings record
    rows = node_rows({1: 1.0, 2: 2.0, 3: 3.0}, log)
    assert len(rows["end_to_end"]) == 1
    echo = FrameLog()
    echo.timings = {5: _times(5, 5.002, 0.0)}
    echo.received = {5: 5.004}
    assert baseline_rows({5: 5.0}, echo) == {"baseline_transport_in": [pytest.approx(2.0)],
                                             "baseline_round_trip": [pytest.approx(4.0)]}


def test_table_and_json_carry_every_row(tmp_path: Path) -> None:
    log = FrameLog()
    log.timings = {1: _times(1, 1.001, 0.004)}
    log.received = {1: 1.012}
    rows = node_rows({1: 1.0}, log)
    result = BenchResult(
        frames_sent=1, frames_answered=1, frames_timed=1, frames_received_by_node=1, frames_dropped_by_node=0,
        answered_fraction=1.0, baseline_answered=0, latency_ms=spreads(rows), rss_mb=150.0, torch_loaded=False,
        model_id="m", backend="onnxruntime", load_before=(1.0, 1.0, 1.0), load_after=(1.0, 1.0, 1.0),
    )
    table = format_table(result)
    assert "node overhead (e2e - engine, per frame)" in table and "queue wait" in table
    path = tmp_path / "bench.json"
    write_json(result, path, {"frames": 1, "log_path": tmp_path}, rows)
    data = json.loads(path.read_text())
    assert data["result"]["latency_ms"]["end_to_end"]["p50"] == pytest.approx(12.0)
    assert data["frames_ms"]["overhead"] == [pytest.approx(8.0)]
    assert data["config"]["log_path"] == str(tmp_path)
