"""Results of the multi-camera scaling benchmark: per-case records, the table, the targets, JSON and the plot.

A *case* is one camera count in one mode: ``batched`` (one node serving every camera) or
``single`` (one single-camera node process per camera, today's deployment). Memory is the
sum over the case's node processes of VmHWM (peak resident set since the process started),
read at the end of the case; CPU is user + sys time of those processes per answered frame.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from edge_ai_ros.atomic_io import atomic_output_path
from edge_ai_ros.benchmark_json import write_benchmark_json
from edge_ai_ros.benchmarks.camera_scaling import PeakResult, RunSummary

MODES = ("batched", "single")
LoadAverage = tuple[float, float, float]


@dataclass(frozen=True, kw_only=True)
class FixedRun:
    summary: RunSummary
    cpu_ms_per_frame: float  # node processes' user+sys per answered frame
    load_before: LoadAverage
    load_after: LoadAverage
    node_counts: dict[str, int] = field(default_factory=dict)  # the nodes' /diagnostics counters: change in the run


@dataclass(frozen=True, kw_only=True)
class CaseResult:
    cameras: int
    mode: str
    processes: int
    peak: PeakResult | None
    fixed: tuple[FixedRun, ...]
    peak_rss_mb: float  # summed VmHWM of the node processes at the end of the case
    end_rss_mb: float  # summed VmRSS at the end of the case
    end_pss_mb: float = 0.0  # summed Pss at the end of the case (shared pages counted once over the processes)
    load_before: LoadAverage
    load_after: LoadAverage
    skipped: str = ""  # why the case did not run ("" = it ran)
    error: str = ""  # what failed while it ran (a node or the player); no numbers then

    @property
    def ran(self) -> bool:
        return not (self.skipped or self.error)

    def at(self, rate_hz: float) -> FixedRun | None:
        return next((f for f in self.fixed if f.summary.rate_hz == rate_hz), None)


def _run_dict(summary: RunSummary) -> dict[str, Any]:
    data = asdict(summary)
    data["drop_fraction"] = summary.drop_fraction
    for name, cam in summary.per_camera.items():
        data["per_camera"][name]["answered_fraction"] = cam.answered_fraction
    return data


def case_dict(case: CaseResult) -> dict[str, Any]:
    peak = None
    if case.peak is not None:
        peak = {"peak_hz": case.peak.peak_hz, "aggregate_fps": case.peak.aggregate_fps, "bounded": case.peak.bounded,
                "trials": [_run_dict(t) for t in case.peak.trials]}
    fixed = [{**_run_dict(f.summary), "cpu_ms_per_frame": f.cpu_ms_per_frame, "load_before": f.load_before,
              "load_after": f.load_after, "node_counts": f.node_counts} for f in case.fixed]
    return {"cameras": case.cameras, "mode": case.mode, "processes": case.processes, "skipped": case.skipped,
            "error": case.error,
            "peak": peak, "fixed": fixed, "peak_rss_mb": case.peak_rss_mb, "end_rss_mb": case.end_rss_mb,
            "end_pss_mb": case.end_pss_mb,
            "load_before": case.load_before, "load_after": case.load_after}


def _find(cases: Sequence[CaseResult], cameras: int, mode: str) -> CaseResult | None:
    return next((c for c in cases if c.cameras == cameras and c.mode == mode and c.ran), None)


def _ratio_target(name: str, batched: float, single: float, *, higher_is_better: bool) -> dict[str, Any]:
    ok = batched >= single if higher_is_better else batched <= single
    return {"target": name, "batched": batched, "single": single,
            "met": bool(ok) if not (math.isnan(batched) or math.isnan(single)) else None}


def targets(cases: Sequence[CaseResult], *, rate_hz: float = 30.0) -> list[dict[str, Any]]:
    """The stated targets, each with its measured values and whether it was met (None: not measured)."""
    out = []
    for mode in MODES:
        case = _find(cases, 4, mode)
        run = case.at(rate_hz) if case else None
        if run is None:
            continue
        worst = min(c.answered_fraction for c in run.summary.per_camera.values())
        out.append({"target": f"{mode}: 4 cameras at {rate_hz:g} Hz, >= 95 % answered per camera",
                    "value": worst, "met": worst >= 0.95})
        p99, budget = run.summary.latency_ms.p99, 2e3 / rate_hz
        out.append({"target": f"{mode}: 4 cameras at {rate_hz:g} Hz, p99 <= 2 frame periods ({budget:.1f} ms)",
                    "value": p99, "met": p99 <= budget})
    for n in sorted({c.cameras for c in cases}):
        b, s = _find(cases, n, "batched"), _find(cases, n, "single")
        if b is None or s is None:
            continue
        out.append(_ratio_target(f"N={n}: peak aggregate fps, batched >= single",
                                 b.peak.aggregate_fps if b.peak else math.nan,
                                 s.peak.aggregate_fps if s.peak else math.nan, higher_is_better=True))
        bf, sf = b.at(rate_hz), s.at(rate_hz)
        if bf and sf:
            out.append(_ratio_target(f"N={n}: CPU ms per frame at {rate_hz:g} Hz, batched <= single",
                                     bf.cpu_ms_per_frame, sf.cpu_ms_per_frame, higher_is_better=False))
        out.append(_ratio_target(f"N={n}: total peak RSS MB, batched <= single", b.peak_rss_mb, s.peak_rss_mb,
                                 higher_is_better=False))
        if n == 1 and bf and sf:
            out.append(_ratio_target(f"N=1: p99 ms at {rate_hz:g} Hz, batched <= single node",
                                     bf.summary.latency_ms.p99, sf.summary.latency_ms.p99, higher_is_better=False))
    return out


def format_table(cases: Sequence[CaseResult]) -> str:
    head = (f"{'N':>2} {'mode':<8} {'procs':>5} {'peak Hz/cam':>11} {'agg fps':>8} | {'rate':>5} {'sent':>5} "
            f"{'ans%':>6} {'min cam%':>8} {'p50 ms':>7} {'p99 ms':>7} {'cpu ms/fr':>9} | {'RSS MB':>7} {'PSS MB':>7} {'load before->after':>19}")
    lines = [head, "-" * len(head)]
    for case in cases:
        if not case.ran:
            why = f"skipped: {case.skipped}" if case.skipped else f"failed: {case.error}"
            lines.append(f"{case.cameras:>2} {case.mode:<8} {why}")
            continue
        peak = case.peak
        first = (f"{peak.peak_hz:>10.1f}{' ' if peak.bounded else '+'} {peak.aggregate_fps:>8.1f}" if peak
                 else f"{'-':>11} {'-':>8}")
        for i, run in enumerate(case.fixed or (None,)):
            left = f"{case.cameras:>2} {case.mode:<8} {case.processes:>5} {first}" if i == 0 else " " * 38
            mid = "" if run is None else _fixed_cells(run)
            right = (f" | {case.peak_rss_mb:>7.0f} {case.end_pss_mb:>7.0f} {case.load_before[0]:>8.2f} -> {case.load_after[0]:<6.2f}"
                     if i == 0 else "")
            lines.append(f"{left} | {mid or ' ' * 53}{right}")
    return "\n".join(lines)


def _fixed_cells(run: FixedRun) -> str:
    s = run.summary
    pct = 100 * s.answered / s.sent if s.sent else math.nan
    worst = 100 * min((c.answered_fraction for c in s.per_camera.values()), default=math.nan)
    return (f"{s.rate_hz:>5.0f} {s.sent:>5} {pct:>6.1f} {worst:>8.1f} {s.latency_ms.p50:>7.1f} {s.latency_ms.p99:>7.1f} "
            f"{run.cpu_ms_per_frame:>9.2f}")


def write_report(path: Path, cases: Sequence[CaseResult], config: Mapping[str, Any]) -> Path:
    """JSON with the config, every case (trials included), the targets and the host (benchmark_json)."""
    return write_benchmark_json(path, {"benchmark": "camera_scaling", "config": dict(config),
                                       "cases": [case_dict(c) for c in cases], "targets": targets(cases)})


def plot(path: Path, cases: Sequence[CaseResult], *, rate_hz: float = 30.0) -> Path | None:
    """Aggregate peak throughput and p99 latency at ``rate_hz`` against the camera count, one line per mode."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ran = [c for c in cases if c.ran]
    if not ran:
        return None
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.6), dpi=110)
    for mode, marker in zip(MODES, "os", strict=True):
        mine = sorted((c for c in ran if c.mode == mode), key=lambda c: c.cameras)
        if not mine:
            continue
        left.plot([c.cameras for c in mine], [c.peak.aggregate_fps if c.peak else math.nan for c in mine],
                  marker=marker, label=mode)
        p99 = [f.summary.latency_ms.p99 if (f := c.at(rate_hz)) else math.nan for c in mine]
        right.plot([c.cameras for c in mine], p99, marker=marker, label=mode)
    right.axhline(2e3 / rate_hz, color="grey", linestyle="--", linewidth=1, label="2 frame periods")
    left.set(xlabel="cameras", ylabel="frames/s answered (all cameras)", title="peak throughput (<= 5 % dropped)")
    right.set(xlabel="cameras", ylabel="ms", title=f"p99 latency at {rate_hz:g} Hz per camera")
    for ax in (left, right):
        ax.set_xticks(sorted({c.cameras for c in ran}))
        ax.grid(True, alpha=0.3)
        ax.legend()
    fig.tight_layout()
    with atomic_output_path(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
    return path
