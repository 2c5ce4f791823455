"""When frames came in and when outputs went out (and from which model), for the last minute or so.

A hot swap reports the longest gap between consecutive outputs it caused, and automatic
rollback compares the new model's output rate and confidence with the old one's; both read
this log. Thread-safe, bounded (deques), no ROS types.
"""

from __future__ import annotations

import bisect
import collections
import threading
from dataclasses import dataclass

from edge_ai_ros.results import FrameResult

_CAPACITY = 4096  # about two minutes at 30 Hz; rollback windows are capped at 60 s


@dataclass(frozen=True, kw_only=True)
class WindowSummary:
    """Frames in, outputs by one model, and that model's mean per-frame confidence in a window."""

    frames_in: int
    frames_out: int
    mean_confidence: float | None  # None when the task has no score (segmentation) or no outputs

    @property
    def output_ratio(self) -> float | None:
        return self.frames_out / self.frames_in if self.frames_in else None


def frame_confidence(result: FrameResult) -> float | None:
    """Top score of one frame's result: best detection (0 when none) or top class; None for masks."""
    if result.task == "detection":
        return max((d.score for d in result.detections), default=0.0)
    if result.classification is not None:
        return float(max(result.classification.scores, default=0.0))
    return None


class OutputLog:
    def __init__(self, capacity: int = _CAPACITY) -> None:
        self._lock = threading.Lock()
        self._arrivals: collections.deque[float] = collections.deque(maxlen=capacity)
        self._outputs: collections.deque[tuple[float, str, float | None]] = collections.deque(maxlen=capacity)
        self._output_seen = threading.Condition(self._lock)

    def arrived(self, t: float) -> None:
        with self._lock:
            self._arrivals.append(t)

    def published(self, t: float, model_id: str, confidence: float | None) -> None:
        with self._lock:
            self._outputs.append((t, model_id, confidence))
            self._output_seen.notify_all()

    def wait_for_output(self, model_id: str, since: float, timeout_s: float) -> float | None:
        """Time of the first output by ``model_id`` after ``since`` (waits up to ``timeout_s``)."""
        with self._lock:
            found = self._output_seen.wait_for(lambda: self._first_locked(model_id, since), timeout=timeout_s)
            return found if found else None

    def max_gap(self, start: float, end: float) -> float:
        """Longest time without an output in [start, end], counting from the last output before start."""
        with self._lock:
            times = [t for t, _, _ in self._outputs]
        first = bisect.bisect_right(times, start)
        points = [*times[max(0, first - 1):bisect.bisect_right(times, end)]]
        if not points:
            return end - start
        edges = [min(points[0], start), *points, end]
        return max(b - a for a, b in zip(edges, edges[1:], strict=False))

    def summary(self, model_id: str, start: float, end: float) -> WindowSummary:
        with self._lock:
            frames_in = sum(1 for t in self._arrivals if start <= t < end)
            mine = [c for t, m, c in self._outputs if start <= t < end and m == model_id]
        scores = [c for c in mine if c is not None]
        return WindowSummary(frames_in=frames_in, frames_out=len(mine),
                             mean_confidence=sum(scores) / len(scores) if scores else None)

    def _first_locked(self, model_id: str, since: float) -> float:
        """Earliest output time by ``model_id`` after ``since``; 0.0 when none (caller holds the lock)."""
        found = 0.0
        for t, m, _ in reversed(self._outputs):
            if t <= since:
                break
            if m == model_id:
                found = t
        return found
