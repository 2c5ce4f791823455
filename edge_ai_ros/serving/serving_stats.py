"""Counters and rolling latency windows of a serving node (thread-safe, no ROS types).

The callbacks count frames in/dropped/rejected, the worker records stage timings and
frames out; /diagnostics reads a consistent snapshot once a period.
"""

from __future__ import annotations

import collections
import threading
from dataclasses import dataclass

from edge_ai_ros.results import StageTimings
from edge_ai_ros.stats import LatencySummary, summarize

STAGES = ("preprocess", "inference", "postprocess", "node_total", "input_age")


@dataclass(frozen=True, kw_only=True)
class StatsSnapshot:
    frames_in: int
    frames_out: int
    dropped: int
    rejected: int
    last_rejection: str
    percentiles_ms: dict[str, LatencySummary]  # stage -> summary of the window; absent when no samples

    def minus(self, older: StatsSnapshot) -> tuple[int, int, int, int]:
        """(in, out, dropped, rejected) counted since ``older``."""
        return (self.frames_in - older.frames_in, self.frames_out - older.frames_out,
                self.dropped - older.dropped, self.rejected - older.rejected)


EMPTY = StatsSnapshot(frames_in=0, frames_out=0, dropped=0, rejected=0, last_rejection="", percentiles_ms={})


class ServingStats:
    def __init__(self, window: int = 300) -> None:
        self._lock = threading.Lock()
        self._counts = collections.Counter[str]()
        self._last_rejection = ""
        self._windows = {stage: collections.deque[float](maxlen=window) for stage in STAGES}

    def count(self, name: str, n: int = 1) -> None:
        with self._lock:
            self._counts[name] += n

    def reject(self, reason: str) -> None:
        with self._lock:
            self._counts["rejected"] += 1
            self._last_rejection = reason

    def record(self, timings: StageTimings, *, node_total_s: float, input_age_s: float) -> None:
        with self._lock:
            self._counts["out"] += 1
            for stage, seconds in (("preprocess", timings.preprocess_s), ("inference", timings.inference_s),
                                   ("postprocess", timings.postprocess_s), ("node_total", node_total_s),
                                   ("input_age", input_age_s)):
                self._windows[stage].append(seconds * 1e3)

    def snapshot(self) -> StatsSnapshot:
        with self._lock:
            samples = {stage: list(w) for stage, w in self._windows.items() if w}
            counts = dict(self._counts)
            last = self._last_rejection
        pct = {stage: summarize(values) for stage, values in samples.items()}
        return StatsSnapshot(frames_in=counts.get("in", 0), frames_out=counts.get("out", 0),
                             dropped=counts.get("dropped", 0), rejected=counts.get("rejected", 0),
                             last_rejection=last, percentiles_ms=pct)
