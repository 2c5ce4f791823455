"""The multi-camera benchmark's parts without ROS: run summaries, the peak search, /proc usage, report and plot."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from edge_ai_ros.benchmarks.camera_scaling import (
    CameraRun,
    ProcUsage,
    RunSummary,
    SearchSettings,
    cpu_ms_per_frame,
    passes,
    peak_search,
    proc_usage,
    summarize_run,
)
from edge_ai_ros.benchmarks.camera_scaling_report import (
    CaseResult,
    FixedRun,
    format_table,
    plot,
    targets,
    write_report,
)
from edge_ai_ros.errors import ConfigError

MS = 1_000_000


def test_a_run_is_matched_by_stamp_per_camera() -> None:
    run = CameraRun(rate_hz=10.0, duration_s=2.0,
                    sent={"cam0": [1000 * MS, 1100 * MS, 1200 * MS, 1300 * MS], "cam1": [1000 * MS, 1100 * MS]},
                    answers={"cam0": {1000 * MS: 1010 * MS, 1100 * MS: 1130 * MS, 999: 5},  # 999: not sent
                             "cam1": {1000 * MS: 1020 * MS}})
    s = summarize_run(run)
    assert (s.sent, s.answered, s.dropped) == (6, 3, 3)
    assert s.drop_fraction == pytest.approx(0.5)
    assert s.achieved_hz == pytest.approx(6 / 2.0 / 2)
    assert s.answered_per_s == pytest.approx(1.5)
    assert s.per_camera["cam0"].answered == 2 and s.per_camera["cam0"].dropped == 2
    assert s.per_camera["cam0"].latency_ms.p50 == pytest.approx(20.0)
    assert s.per_camera["cam1"].answered_fraction == pytest.approx(0.5)
    assert s.latency_ms.count == 3 and s.latency_ms.max == pytest.approx(30.0)


def _capacity_trial(capacity_fps: float, cameras: int, log: list[float]) -> Callable[[float], RunSummary]:
    """A node that answers at most ``capacity_fps`` frames/s over all cameras and drops the rest."""
    def trial(rate: float) -> RunSummary:
        log.append(rate)
        duration, frames = 2.0, max(1, round(rate * 2.0))
        sent = {f"cam{k}": [(k * 10_000 + i + 1) * MS for i in range(frames)] for k in range(cameras)}
        keep = min(frames, int(capacity_fps * duration / cameras))
        answers = {name: {s: s + 5 * MS for s in stamps[:keep]} for name, stamps in sent.items()}
        return summarize_run(CameraRun(rate_hz=rate, duration_s=duration, sent=sent, answers=answers))

    return trial


def test_peak_search_finds_the_rate_where_drops_reach_the_threshold() -> None:
    settings = SearchSettings(low_hz=1.0, high_hz=60.0, steps=7, max_drop=0.05)
    rates: list[float] = []
    result = peak_search(_capacity_trial(100.0, 4, rates), settings)
    true_peak = 100.0 / 4 / 0.95  # per camera: 5 % of frames dropped
    resolution = (60.0 - 1.0) / 2**7 + 0.5  # bisection width plus frame rounding
    assert result.bounded
    assert true_peak - resolution <= result.peak_hz <= true_peak + 0.5
    assert result.aggregate_fps == pytest.approx(min(100.0, 4 * result.peak_hz), rel=0.05)
    assert rates[0] == 60.0 and len(result.trials) == len(rates) == 1 + 7


def test_peak_search_doubles_while_passing_and_reports_a_lower_bound() -> None:
    rates: list[float] = []
    result = peak_search(_capacity_trial(1e9, 2, rates), SearchSettings(high_hz=10.0, max_expansions=2))
    assert rates == [10.0, 20.0, 40.0]
    assert not result.bounded and result.peak_hz == 40.0


def test_peak_search_reports_zero_when_even_the_lowest_rate_fails() -> None:
    rates: list[float] = []
    result = peak_search(_capacity_trial(0.0, 1, rates), SearchSettings(low_hz=2.0, high_hz=8.0, steps=2))
    assert result.peak_hz == 0.0 and result.aggregate_fps == 0.0
    assert rates == [8.0, 5.0, 3.5, 2.0]


def test_a_player_that_fell_behind_fails_the_trial_even_without_drops() -> None:
    sent = {"cam0": [(i + 1) * MS for i in range(10)]}
    slow = summarize_run(CameraRun(rate_hz=30.0, duration_s=1.0, sent=sent,
                                   answers={"cam0": {s: s + MS for s in sent["cam0"]}}))
    assert slow.dropped == 0 and not passes(slow, SearchSettings())


@pytest.mark.parametrize(("kwargs", "match"), [({"low_hz": 10.0, "high_hz": 5.0}, "low_hz"),
                                               ({"max_drop": 1.5}, "max_drop"), ({"steps": -1}, "steps")])
def test_bad_search_settings_are_refused(kwargs: dict[str, float], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        SearchSettings(**kwargs)  # type: ignore[arg-type]


def test_proc_usage_reads_this_process() -> None:
    before = proc_usage([os.getpid()])
    sum(i * i for i in range(2_000_000))  # burn some CPU
    after = proc_usage([os.getpid()])
    assert after.cpu_s > before.cpu_s
    assert 0 < after.rss_mb <= after.peak_rss_mb
    if Path(f"/proc/{os.getpid()}/smaps_rollup").is_file():
        assert 0 < after.pss_mb <= after.rss_mb * 1.05
    assert proc_usage([os.getpid(), os.getpid()]).peak_rss_mb == pytest.approx(2 * after.peak_rss_mb, rel=0.05)
    assert cpu_ms_per_frame(ProcUsage(cpu_s=1.0, rss_mb=0, peak_rss_mb=0),
                            ProcUsage(cpu_s=1.5, rss_mb=0, peak_rss_mb=0), 100) == pytest.approx(5.0)
    assert math.isnan(cpu_ms_per_frame(before, after, 0))


def _fixed(rate: float, cameras: int, answered_fraction: float, latency_ms: float, cpu_ms: float) -> FixedRun:
    frames = round(rate * 2)
    sent = {f"cam{k}": [(k * 10_000 + i + 1) * MS for i in range(frames)] for k in range(cameras)}
    keep = round(frames * answered_fraction)
    answers = {n: {s: s + round(latency_ms * MS) for s in st[:keep]} for n, st in sent.items()}
    summary = summarize_run(CameraRun(rate_hz=rate, duration_s=2.0, sent=sent, answers=answers))
    return FixedRun(summary=summary, cpu_ms_per_frame=cpu_ms, load_before=(1.0, 1.0, 1.0), load_after=(1.5, 1.0, 1.0),
                    node_counts={"frames_in": summary.sent})


def _case(mode: str, cameras: int, *, latency: float, cpu: float, rss: float, fps: float) -> CaseResult:
    rates: list[float] = []
    peak = peak_search(_capacity_trial(fps, cameras, rates), SearchSettings(high_hz=40.0, steps=3))
    return CaseResult(cameras=cameras, mode=mode, processes=1 if mode == "batched" else cameras, peak=peak,
                      fixed=(_fixed(10.0, cameras, 1.0, latency, cpu), _fixed(30.0, cameras, 0.97, latency, cpu)),
                      peak_rss_mb=rss, end_rss_mb=rss * 0.9, load_before=(1.0, 1.0, 1.0), load_after=(2.0, 1.0, 1.0))


def _cases() -> list[CaseResult]:
    return [_case("batched", 1, latency=10.0, cpu=8.0, rss=170.0, fps=90.0),
            _case("single", 1, latency=12.0, cpu=9.0, rss=170.0, fps=90.0),
            _case("single", 4, latency=40.0, cpu=12.0, rss=680.0, fps=100.0),
            _case("batched", 4, latency=30.0, cpu=6.0, rss=200.0, fps=150.0),
            CaseResult(cameras=8, mode="batched", processes=0, peak=None, fixed=(), peak_rss_mb=0.0, end_rss_mb=0.0,
                       load_before=(1.0, 1.0, 1.0), load_after=(1.0, 1.0, 1.0), skipped="no cameras parameter"),
            CaseResult(cameras=8, mode="single", processes=0, peak=None, fixed=(), peak_rss_mb=0.0, end_rss_mb=0.0,
                       load_before=(1.0, 1.0, 1.0), load_after=(1.0, 1.0, 1.0), error="a node process exited")]


def test_targets_compare_the_modes_of_the_same_camera_count() -> None:
    found = {t["target"]: t for t in targets(_cases())}
    assert found["batched: 4 cameras at 30 Hz, >= 95 % answered per camera"]["met"] is True
    assert found["single: 4 cameras at 30 Hz, p99 <= 2 frame periods (66.7 ms)"]["met"] is True
    assert found["N=4: peak aggregate fps, batched >= single"]["met"] is True
    assert found["N=4: CPU ms per frame at 30 Hz, batched <= single"]["batched"] == 6.0
    assert found["N=4: total peak RSS MB, batched <= single"]["met"] is True
    assert found["N=1: p99 ms at 30 Hz, batched <= single node"]["met"] is True
    assert not any(t["target"].startswith("N=8") for t in found.values())  # skipped: nothing to compare


def test_report_json_table_and_plot(tmp_path: Path) -> None:
    cases = _cases()
    path = write_report(tmp_path / "bench.json", cases, {"cameras": [1, 4, 8]})
    data = json.loads(path.read_text())
    assert {"benchmark", "config", "cases", "targets", "host"} <= set(data)
    assert {"cpu_model", "cpu_flags", "logical_cores", "loadavg"} <= set(data["host"])
    first = data["cases"][0]
    assert first["mode"] == "batched" and first["peak"]["bounded"] in (True, False)
    assert first["fixed"][1]["per_camera"]["cam0"]["latency_ms"]["p99"] == pytest.approx(10.0)
    assert first["fixed"][1]["drop_fraction"] == pytest.approx(1 - 58 / 60)
    assert first["fixed"][0]["node_counts"] == {"frames_in": 20}
    assert data["cases"][4]["skipped"] == "no cameras parameter"
    table = format_table(cases)
    assert "skipped: no cameras parameter" in table and "failed: a node process exited" in table
    assert len(table.splitlines()) == 2 + 4 * 2 + 2
    assert data["cases"][5]["error"] == "a node process exited" and data["cases"][5]["fixed"] == []
    png = plot(tmp_path / "bench.png", cases)
    assert png is not None and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
