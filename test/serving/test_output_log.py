"""Output gaps and the auto-rollback decision, on hand-made timelines (no ROS, no models)."""

from __future__ import annotations

import threading

import pytest

from edge_ai_ros.serving.hot_swap import RollbackPolicy, collapse_reason
from edge_ai_ros.serving.output_log import OutputLog, WindowSummary


def _log(times: list[float], model: str = "a", confidence: float = 0.9) -> OutputLog:
    log = OutputLog()
    for t in times:
        log.arrived(t - 0.01)
        log.published(t, model, confidence)
    return log


def test_max_gap_counts_from_the_last_output_before_the_window() -> None:
    log = _log([0.0, 0.033, 0.066, 0.2, 0.233])
    assert log.max_gap(0.1, 0.233) == pytest.approx(0.2 - 0.066)
    assert log.max_gap(0.21, 0.233) == pytest.approx(0.033)


def test_max_gap_without_outputs_is_the_whole_window() -> None:
    assert OutputLog().max_gap(1.0, 3.5) == pytest.approx(2.5)


def test_summary_counts_only_the_named_model() -> None:
    log = _log([1.0, 1.1, 1.2], "a", 0.8)
    for t in (1.3, 1.4):
        log.arrived(t - 0.01)
        log.published(t, "b", 0.2)
    b = log.summary("b", 1.25, 2.0)
    assert (b.frames_in, b.frames_out) == (2, 2)
    assert b.mean_confidence == pytest.approx(0.2)


def test_wait_for_output_returns_the_first_output_of_the_model_after_a_time() -> None:
    log = _log([1.0], "a")
    threading.Timer(0.05, lambda: log.published(2.0, "b", 0.5)).start()
    assert log.wait_for_output("b", 1.5, timeout_s=5.0) == 2.0
    assert log.wait_for_output("c", 1.5, timeout_s=0.01) is None


POLICY = RollbackPolicy(enabled=True, window_s=1.0, min_output_rate_ratio=0.5, min_mean_confidence=0.3)


@pytest.mark.parametrize(("after", "reason"), [
    (WindowSummary(frames_in=30, frames_out=29, mean_confidence=0.8), ""),
    (WindowSummary(frames_in=30, frames_out=5, mean_confidence=0.8), "output rate collapsed"),
    (WindowSummary(frames_in=30, frames_out=0, mean_confidence=None), "output rate collapsed"),
    (WindowSummary(frames_in=30, frames_out=30, mean_confidence=0.05), "mean confidence 0.050"),
    (WindowSummary(frames_in=0, frames_out=0, mean_confidence=None), ""),  # no frames: no evidence
])
def test_collapse_reason(after: WindowSummary, reason: str) -> None:
    before = WindowSummary(frames_in=30, frames_out=30, mean_confidence=0.8)
    got = collapse_reason(before, after, POLICY)
    assert (got == "") if not reason else (reason in got)


def test_a_disabled_check_never_triggers() -> None:
    before = WindowSummary(frames_in=30, frames_out=30, mean_confidence=0.8)
    after = WindowSummary(frames_in=30, frames_out=1, mean_confidence=0.0)
    assert collapse_reason(before, after, RollbackPolicy(min_output_rate_ratio=0.0, min_mean_confidence=0.0)) == ""
