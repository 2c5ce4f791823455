"""Per-frame latency breakdown of a node benchmark run: matching, percentiles, table, JSON.

Why per frame: "overhead = e2e - engine" taken per percentile mixes different frames (the
p99 of a difference is not the difference of the p99s). Here every answered frame has its
publish time (benchmark), its node-side record (frame_timings) and its receive time, all on
CLOCK_MONOTONIC, so each frame's overhead is its own end-to-end minus its own engine time, and
the end-to-end splits into transport in, the node's stages and transport out.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from edge_ai_ros.benchmark_json import write_benchmark_json
from edge_ai_ros.serving.frame_times import FrameTimes
from edge_ai_ros.stats import LatencySummary, summarize

# (key, label) in table order; node stages come from FrameTimes.stages_ms
ROWS: tuple[tuple[str, str], ...] = (
    ("baseline_transport_in", "baseline: publish -> bare rclpy callback"),
    ("baseline_round_trip", "baseline: publish -> bare echo reply received"),
    ("transport_in", "node: publish -> node callback"),
    ("queue_wait", "  queue wait (callback -> worker)"),
    ("conversion", "  conversion (msg -> rgb array)"),
    ("preprocess", "  preprocess"),
    ("inference", "  inference (engine)"),
    ("postprocess", "  postprocess (decode)"),
    ("pipeline_other", "  pipeline other (lease, cast)"),
    ("build_publish", "  message build + publish"),
    ("node_total", "  in node (callback -> published)"),
    ("transport_out", "node: published -> detections received"),
    ("end_to_end", "end-to-end (publish -> detections received)"),
    ("overhead", "node overhead (e2e - engine, per frame)"),
)


@dataclass(frozen=True, kw_only=True)
class BenchResult:
    frames_sent: int
    frames_answered: int  # detections received for a measured frame
    frames_timed: int  # answered frames that also have the node's frame_timings record
    frames_received_by_node: int
    frames_dropped_by_node: int
    answered_fraction: float
    baseline_answered: int  # measured frames the bare echo answered (0: no baseline)
    latency_ms: dict[str, LatencySummary]  # ROWS key -> summary over frames
    rss_mb: float
    torch_loaded: bool
    model_id: str
    backend: str
    load_before: tuple[float, float, float]
    load_after: tuple[float, float, float]
    node_parameters: dict[str, object] = field(default_factory=dict)


@dataclass(kw_only=True)
class FrameLog:
    """What came back from one receiver, keyed by header stamp (ns). Times are monotonic seconds."""

    received: dict[int, float] = field(default_factory=dict)
    timings: dict[int, FrameTimes] = field(default_factory=dict)

    def clear(self) -> None:
        self.received.clear()
        self.timings.clear()


def node_rows(sent: Mapping[int, float], log: FrameLog) -> dict[str, list[float]]:
    """Per-frame ms for every node row, over frames answered and timed."""
    rows: dict[str, list[float]] = {key: [] for key, _ in ROWS if not key.startswith("baseline")}
    for stamp, received in log.received.items():
        sent_at, times = sent.get(stamp), log.timings.get(stamp)
        if sent_at is None or times is None:
            continue
        stages = times.stages_ms()
        e2e = (received - sent_at) * 1e3
        for key, value in stages.items():
            rows[key].append(value)
        rows["transport_in"].append((times.callback - sent_at) * 1e3)
        rows["transport_out"].append((received - times.published) * 1e3)
        rows["end_to_end"].append(e2e)
        rows["overhead"].append(e2e - stages["inference"])
    return rows


def baseline_rows(sent: Mapping[int, float], log: FrameLog) -> dict[str, list[float]]:
    """Per-frame ms of the bare echo: one way (publish -> callback) and the round trip."""
    one_way, round_trip = [], []
    for stamp, times in log.timings.items():
        sent_at, received = sent.get(stamp), log.received.get(stamp)
        if sent_at is None or received is None:
            continue
        one_way.append((times.callback - sent_at) * 1e3)
        round_trip.append((received - sent_at) * 1e3)
    return {"baseline_transport_in": one_way, "baseline_round_trip": round_trip}


def spreads(rows: Mapping[str, list[float]]) -> dict[str, LatencySummary]:
    """The shared summary (edge_ai_ros.stats) of every row; NaN where a row has no frames."""
    return {key: summarize(rows.get(key, [])) for key, _ in ROWS}


def format_table(result: BenchResult) -> str:
    head = [
        f"model {result.model_id} on {result.backend}; node RSS after warm-up {result.rss_mb:.0f} MB; "
        f"torch loaded in node: {result.torch_loaded}",
        f"frames sent {result.frames_sent}, answered {result.frames_answered} "
        f"({100 * result.answered_fraction:.1f}%), timed {result.frames_timed}; node received "
        f"{result.frames_received_by_node}, dropped {result.frames_dropped_by_node}; bare echo answered "
        f"{result.baseline_answered}",
        "load average before {:.2f} {:.2f} {:.2f}, after {:.2f} {:.2f} {:.2f}".format(
            *result.load_before, *result.load_after),
    ]
    width = max(len(label) for _, label in ROWS)
    lines = [*head, f"{'ms':<{width}}  {'p50':>7} {'p99':>7} {'mean':>7}"]
    for key, label in ROWS:
        s = result.latency_ms[key]
        lines.append(f"{label:<{width}}  {s.p50:7.2f} {s.p99:7.2f} {s.mean:7.2f}")
    return "\n".join(lines)


def write_json(result: BenchResult, path: Path, config: Mapping[str, Any],
               frames: Mapping[str, list[float]] | None = None) -> None:
    """Config, summary and (optionally) the per-frame ms of every row, for later analysis."""
    data: dict[str, Any] = {"config": {k: str(v) if isinstance(v, Path) else v for k, v in config.items()},
                            "result": asdict(result)}
    if frames is not None:
        data["frames_ms"] = {key: [round(v, 4) for v in values] for key, values in frames.items()}
    write_benchmark_json(path, data)
