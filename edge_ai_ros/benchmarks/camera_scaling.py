"""Multi-camera scaling benchmark, the parts without ROS: run summaries, the peak search, process usage.

Method (the way graph benchmarks such as NVIDIA's ros2_benchmark measure a node under test):
frames are played to the node from another process at a fixed rate per camera; a run's
frames are matched to the answers by header stamp, so a frame that was sent and never
answered is *dropped*, whatever lost it (transport, the node's queue, the node itself).
- **peak throughput**: the highest per-camera rate whose short trial drops at most
  ``max_drop`` of its frames, found by first raising the rate until a trial fails and then
  bisecting between the last passing and the first failing rate;
- **fixed rate**: longer runs at given rates report latency (header stamp -> answer
  received) per camera and over all, frames sent/answered/dropped and the node processes'
  CPU time and memory (from /proc).
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from edge_ai_ros.errors import ConfigError
from edge_ai_ros.stats import LatencySummary, summarize


@dataclass(frozen=True, kw_only=True)
class CameraRun:
    """One paced run: per camera the stamps sent (ns) and, per answered stamp, when its answer arrived (ns)."""

    rate_hz: float  # asked per camera
    duration_s: float  # time the player spent publishing
    sent: Mapping[str, Sequence[int]]
    answers: Mapping[str, Mapping[int, int]]


@dataclass(frozen=True, kw_only=True)
class CameraSummary:
    sent: int
    answered: int
    dropped: int
    latency_ms: LatencySummary

    @property
    def answered_fraction(self) -> float:
        return self.answered / self.sent if self.sent else math.nan


@dataclass(frozen=True, kw_only=True)
class RunSummary:
    rate_hz: float  # asked per camera
    achieved_hz: float  # per camera, what the player managed (sent / duration / cameras)
    duration_s: float
    sent: int
    answered: int
    dropped: int
    answered_per_s: float  # all cameras together
    latency_ms: LatencySummary  # all cameras together
    per_camera: dict[str, CameraSummary] = field(default_factory=dict)

    @property
    def drop_fraction(self) -> float:
        return self.dropped / self.sent if self.sent else 1.0


def summarize_camera(sent: Sequence[int], answers: Mapping[int, int]) -> CameraSummary:
    latencies = [(answers[s] - s) / 1e6 for s in sent if s in answers]
    return CameraSummary(sent=len(sent), answered=len(latencies), dropped=len(sent) - len(latencies),
                         latency_ms=summarize(latencies))


def summarize_run(run: CameraRun) -> RunSummary:
    """Per camera and overall counts and latency; answers to stamps that were not sent are ignored."""
    per_camera = {name: summarize_camera(stamps, run.answers.get(name, {})) for name, stamps in run.sent.items()}
    latencies = [(run.answers[name][s] - s) / 1e6 for name, stamps in run.sent.items()
                 for s in stamps if s in run.answers.get(name, {})]
    sent = sum(c.sent for c in per_camera.values())
    answered = sum(c.answered for c in per_camera.values())
    duration = max(run.duration_s, 1e-9)
    return RunSummary(rate_hz=run.rate_hz, achieved_hz=sent / duration / max(1, len(run.sent)),
                      duration_s=run.duration_s, sent=sent, answered=answered, dropped=sent - answered,
                      answered_per_s=answered / duration, latency_ms=summarize(latencies), per_camera=per_camera)


@dataclass(frozen=True, kw_only=True)
class SearchSettings:
    """The peak-throughput search: start at ``high_hz`` per camera, double while trials pass, then bisect."""

    low_hz: float = 2.0
    high_hz: float = 60.0
    steps: int = 5  # bisection steps after the first failing rate
    max_expansions: int = 2  # doublings of high_hz while trials pass
    max_drop: float = 0.05  # a trial passes when it drops at most this fraction of its frames ...
    min_pacing: float = 0.9  # ... and the player published at least this fraction of the asked rate

    def __post_init__(self) -> None:
        if not 0 < self.low_hz < self.high_hz:
            raise ConfigError("search", f"low_hz {self.low_hz} / high_hz {self.high_hz}",
                              fix="use 0 < low_hz < high_hz")
        if self.steps < 0 or self.max_expansions < 0:
            raise ConfigError("search", "steps and max_expansions must be >= 0", fix="use 0 or more")
        if not 0 <= self.max_drop < 1:
            raise ConfigError("max_drop", f"{self.max_drop} is outside [0, 1)", fix="use e.g. 0.05")


@dataclass(frozen=True, kw_only=True)
class PeakResult:
    peak_hz: float  # per camera; 0 when even low_hz failed
    aggregate_fps: float  # frames answered per second over all cameras in the passing trial at peak_hz
    bounded: bool  # False: every rate tried passed, so peak_hz is only a lower bound
    trials: tuple[RunSummary, ...]


def passes(summary: RunSummary, settings: SearchSettings) -> bool:
    return summary.drop_fraction <= settings.max_drop and summary.achieved_hz >= settings.min_pacing * summary.rate_hz


def peak_search(trial: Callable[[float], RunSummary], settings: SearchSettings) -> PeakResult:
    """Highest passing per-camera rate: expand from ``high_hz`` while passing, then bisect ``steps`` times."""
    trials: list[RunSummary] = []
    best: RunSummary | None = None

    def attempt(rate: float) -> bool:
        nonlocal best
        trials.append(trial(rate))
        ok = passes(trials[-1], settings)
        if ok and (best is None or rate > best.rate_hz):
            best = trials[-1]
        return ok

    low, high = settings.low_hz, settings.high_hz
    for _ in range(settings.max_expansions + 1):
        if not attempt(high):
            break
        low, high = high, high * 2
    else:
        return _peak(best, trials, bounded=False)
    for _ in range(settings.steps):
        mid = (low + high) / 2
        low, high = (mid, high) if attempt(mid) else (low, mid)
    if best is None:
        attempt(settings.low_hz)
    return _peak(best, trials, bounded=True)


def _peak(best: RunSummary | None, trials: list[RunSummary], *, bounded: bool) -> PeakResult:
    if best is None:
        return PeakResult(peak_hz=0.0, aggregate_fps=0.0, bounded=bounded, trials=tuple(trials))
    return PeakResult(peak_hz=best.rate_hz, aggregate_fps=best.answered_per_s, bounded=bounded, trials=tuple(trials))


@dataclass(frozen=True, kw_only=True)
class ProcUsage:
    """CPU seconds (user + sys) and memory of a set of processes, summed."""

    cpu_s: float
    rss_mb: float  # resident now
    peak_rss_mb: float  # VmHWM: the high-water mark since each process started
    pss_mb: float = 0.0  # proportional set size now: shared pages split between the processes sharing them


def proc_usage(pids: Iterable[int], proc: Path = Path("/proc")) -> ProcUsage:
    """Summed over ``pids`` from /proc/<pid>/stat (utime, stime), /proc/<pid>/status (VmRSS, VmHWM) and
    /proc/<pid>/smaps_rollup (Pss; 0 where the kernel has no smaps_rollup)."""
    ticks = os.sysconf("SC_CLK_TCK")
    cpu = rss = hwm = pss = 0.0
    for pid in pids:
        stat = (proc / str(pid) / "stat").read_text()
        fields = stat[stat.rindex(")") + 2:].split()  # after "pid (comm) ": state is field 3
        cpu += (int(fields[11]) + int(fields[12])) / ticks  # utime, stime (fields 14, 15)
        status = _status_kb((proc / str(pid) / "status").read_text())
        rss += status.get("VmRSS", 0) / 1024
        hwm += status.get("VmHWM", 0) / 1024
        rollup = proc / str(pid) / "smaps_rollup"
        pss += _status_kb(rollup.read_text()).get("Pss", 0) / 1024 if rollup.is_file() else 0.0
    return ProcUsage(cpu_s=cpu, rss_mb=rss, peak_rss_mb=hwm, pss_mb=pss)


def _status_kb(text: str) -> dict[str, int]:
    out = {}
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM", "Pss"):
            out[key] = int(value.split()[0])
    return out


def cpu_ms_per_frame(before: ProcUsage, after: ProcUsage, answered: int) -> float:
    return (after.cpu_s - before.cpu_s) * 1e3 / answered if answered else math.nan
