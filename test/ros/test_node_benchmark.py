"""``bench-node`` end to end, short: real node and echo processes, per-frame records that add up."""

from __future__ import annotations

from pathlib import Path

import pytest

rclpy = pytest.importorskip("rclpy")
pytest.importorskip("edge_ai_ros.msg")

from tiny_detector import build_detector  # noqa: E402

from edge_ai_ros.ros.drivers.node_benchmark import BenchConfig, run_benchmark  # noqa: E402

FRAMES = 20


@pytest.mark.ros
def test_short_benchmark_times_every_answered_frame_and_measures_the_baseline(tmp_path: Path) -> None:
    manifest = build_detector(tmp_path / "model")
    config = BenchConfig(manifest=str(manifest), backend="onnxruntime", frames=FRAMES, warmup_frames=5,
                         baseline_frames=10, log_path=tmp_path / "node.log")
    result, rows = run_benchmark(config)

    assert result.frames_sent == FRAMES
    assert result.frames_answered >= FRAMES // 2  # best effort on a shared machine; not a rate test
    assert result.frames_timed == result.frames_answered  # every answer came with its record
    assert result.baseline_answered >= 5
    assert result.model_id == "tiny-detector" and result.backend == "onnxruntime"
    assert not result.torch_loaded and result.rss_mb > 0
    assert result.node_parameters["publish_frame_timings"] is True
    for i in range(result.frames_timed):
        total = rows["transport_in"][i] + rows["node_total"][i] + rows["transport_out"][i]
        assert rows["end_to_end"][i] == pytest.approx(total, abs=1e-6)
        assert rows["overhead"][i] == pytest.approx(rows["end_to_end"][i] - rows["inference"][i], abs=1e-6)
        assert rows["inference"][i] > 0 and rows["transport_in"][i] > 0
    assert result.latency_ms["end_to_end"].p50 > result.latency_ms["inference"].p50
