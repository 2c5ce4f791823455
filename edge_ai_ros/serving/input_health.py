"""Health of one image input: frames received, frames lost, and a level with the likely cause.

ROS-free, so the accounting is tested without a middleware. Two independent loss counts:

- ``lost_reported``: samples the middleware says it lost (the subscription's message_lost
  event; Fast DDS reports sequence-number gaps it saw on a best-effort reader);
- ``missed_by_stamps``: frames missing from the publisher's own rate. Every ``window``
  frames, the span of their header stamps divided by the period (the lower median of recent
  steps) is the number of frames the publisher sent; fewer received means frames were lost.
  Bursts after a late frame count nothing; a step over ``max_step_periods`` is a pause.

Loss over a period is the larger of the two (they see the same missing frames from two
sides), as a fraction of what the publisher sent (received + lost). Levels:
OK below ``warn_fraction``, WARN below ``error_fraction``, ERROR above it, and ERROR too when
publishers exist but none is matched (incompatible QoS delivers nothing).
"""

from __future__ import annotations

import collections
import threading
from dataclasses import dataclass

from edge_ai_ros.errors import ConfigError

OK, WARN, ERROR = 0, 1, 2
LEVEL_NAMES = {OK: "OK", WARN: "WARN", ERROR: "ERROR"}
#: Fast DDS's default shared-memory segment: a publisher without a profile cannot move a bigger
#: frame through it whole (measured: about half of such best-effort frames are lost).
DEFAULT_SHM_SEGMENT_BYTES = 512 * 1024


@dataclass(frozen=True, kw_only=True)
class HealthThresholds:
    warn_fraction: float = 0.02
    error_fraction: float = 0.2
    window: int = 30  # header-stamp steps the period is estimated from
    max_step_periods: int = 30  # a pause longer than this many periods is a stop, not loss

    def __post_init__(self) -> None:
        if not 0.0 < self.warn_fraction <= self.error_fraction <= 1.0:
            raise ConfigError("warn_fraction", f"{self.warn_fraction} / {self.error_fraction} out of order",
                              fix="use 0 < warn_fraction <= error_fraction <= 1")
        if self.window < 3:
            raise ConfigError("window", f"{self.window} steps is too few", fix="use at least 3")


@dataclass(frozen=True, kw_only=True)
class InputSnapshot:
    received: int
    lost_reported: int
    missed_by_stamps: int
    largest_frame_bytes: int
    period_s: float  # 0 while unknown

    @property
    def lost(self) -> int:
        return max(self.lost_reported, self.missed_by_stamps)

    def minus(self, older: InputSnapshot) -> InputSnapshot:
        return InputSnapshot(received=self.received - older.received,
                             lost_reported=self.lost_reported - older.lost_reported,
                             missed_by_stamps=self.missed_by_stamps - older.missed_by_stamps,
                             largest_frame_bytes=self.largest_frame_bytes, period_s=self.period_s)


EMPTY_INPUT = InputSnapshot(received=0, lost_reported=0, missed_by_stamps=0, largest_frame_bytes=0, period_s=0.0)


class InputHealth:
    """Thread-safe counters of one input: the frame callback and the event callback write, diagnostics read."""

    def __init__(self, thresholds: HealthThresholds | None = None) -> None:
        self.thresholds = thresholds or HealthThresholds()
        self._lock = threading.Lock()
        self._steps = collections.deque[int](maxlen=self.thresholds.window)
        self._last_stamp_ns = self._window_start = self._window_count = 0
        self._received = self._lost_reported = self._missed = self._largest = 0
        self._lost_base = 0  # lost_reported when the current subscription was made

    def frame(self, stamp_ns: int, size_bytes: int) -> None:
        """One frame arrived with this header stamp and payload size."""
        with self._lock:
            self._received += 1
            self._largest = max(self._largest, size_bytes)
            step = stamp_ns - self._last_stamp_ns
            if not self._last_stamp_ns or self._is_pause(step):
                self._window_start, self._window_count = stamp_ns, 0  # (re)start: nothing to compare yet
            elif step > 0:
                self._steps.append(step)
                self._window_count += 1
                if self._window_count >= self.thresholds.window:
                    self._close_window(stamp_ns)
            if stamp_ns > self._last_stamp_ns:
                self._last_stamp_ns = stamp_ns

    def _is_pause(self, step: int) -> bool:
        return len(self._steps) >= 3 and step > self.thresholds.max_step_periods * self._period()

    def _close_window(self, last_ns: int) -> None:
        """Frames the stamps span minus frames received: a late frame followed by a burst counts nothing."""
        expected = round((last_ns - self._window_start) / self._period())
        self._missed += max(0, expected - self._window_count)
        self._window_start, self._window_count = last_ns, 0

    def _period(self) -> float:
        """Mean of the recent steps near their lower median: robust to a publisher's bursts and to jitter;
        under heavy loss the median becomes two periods, so ``missed_by_stamps`` then undercounts (the
        middleware's own count covers best effort)."""
        ordered = sorted(self._steps)
        rough = ordered[(len(ordered) - 1) // 2]
        near = [step for step in ordered if rough / 2 <= step <= rough * 1.5]
        return sum(near) / len(near)

    def lost(self, total_count: int) -> None:
        """The current subscription's running total of lost samples (message_lost event)."""
        with self._lock:
            self._lost_reported = max(self._lost_reported, self._lost_base + total_count)

    def restart(self) -> None:
        """A new subscription: its lost total starts at 0 and the rate is learned again (counts are kept)."""
        with self._lock:
            self._lost_base = self._lost_reported
        self.new_publishers()

    def new_publishers(self) -> None:
        """Publishers came or went: another camera's stamps and rate are not this one's (counts are kept)."""
        with self._lock:
            self._steps.clear()
            self._last_stamp_ns = self._window_start = self._window_count = 0

    def snapshot(self) -> InputSnapshot:
        with self._lock:
            period = self._period() / 1e9 if len(self._steps) >= 3 else 0.0
            return InputSnapshot(received=self._received, lost_reported=self._lost_reported,
                                 missed_by_stamps=self._missed, largest_frame_bytes=self._largest, period_s=period)


def level_of(delta: InputSnapshot, thresholds: HealthThresholds, *, publishers: int, matched: bool) -> int:
    """Level of one input over one period (``delta`` = counts since the previous period)."""
    if publishers and not matched:
        return ERROR
    sent = delta.received + delta.lost
    if not sent:
        return OK
    fraction = delta.lost / sent
    if fraction >= thresholds.error_fraction:
        return ERROR
    return WARN if fraction >= thresholds.warn_fraction else OK


def likely_cause(delta: InputSnapshot, *, offered_reliability: str, compressed: bool,
                 subscribed_reliability: str = "") -> str:
    """The probable reason frames are lost and what to do about it (one line, for the log)."""
    if offered_reliability == "reliable" and subscribed_reliability == "best_effort":
        return ("the publisher offers reliable but the subscription is best effort, so lost fragments are "
                "never repaired: set input_qos to auto (follows the publisher) or reliable")
    big = delta.largest_frame_bytes > DEFAULT_SHM_SEGMENT_BYTES
    if not compressed and big and offered_reliability == "best_effort":
        return (f"frames of {delta.largest_frame_bytes // 1024} KiB from a best-effort publisher: a publisher "
                f"on Fast DDS defaults cannot pass frames over {DEFAULT_SHM_SEGMENT_BYTES // 1024} KiB "
                "whole (its shared-memory segment). Fix on the publisher: load this package's "
                "config/fastdds_profile.xml (FASTRTPS_DEFAULT_PROFILES_FILE), or publish reliable, "
                "or subscribe to image/compressed")
    if offered_reliability == "best_effort":
        return ("best-effort frames are lost in transport: raise the receive buffers (sysctl "
                "net.core.rmem_max, see docs/camera_drivers.md), load config/fastdds_profile.xml on the "
                "publisher, or publish reliable")
    return ("reliable frames are missing from the publisher's rate: the publisher's history is overwritten "
            "before repair (raise its depth) or it skips frames itself; check its CPU load")


def incompatible_cause(offered: str, requested: str) -> str:
    return (f"publishers offer {offered} but input_qos asks for {requested}: nothing is delivered. "
            "Set input_qos to auto (follows the publishers) or to what they offer")
