"""What a hot-swap benchmark found (ros/drivers/swap_benchmark.py measures it): table and JSON."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from edge_ai_ros.benchmark_json import write_benchmark_json
from edge_ai_ros.stats import LatencySummary


@dataclass(frozen=True, kw_only=True)
class SwapBenchResult:
    swaps_ok: int
    swaps_requested: int
    frames_sent: int
    frames_answered: int
    frames_sent_during_swaps: int
    frames_dropped_during_swaps: int
    frames_unanswered_outside_swaps: int
    max_gap_ms_client: float  # between consecutive answers received here, within swap windows
    max_gap_ms_node: float  # the largest max_output_gap_s the node reported
    frame_period_ms: float
    swap_ms: LatencySummary  # request -> switch in the node, successful swaps
    answer_ms: LatencySummary  # request -> answer at the client
    model_id_changes: int
    rss_mb: tuple[float, float, float]  # before, after the first round trip, after all swaps
    threads: tuple[int, int]  # before, after
    model_ids: tuple[str, str]
    failures: list[str] = field(default_factory=list)

    @property
    def rss_growth(self) -> float:
        return self.rss_mb[2] / self.rss_mb[0] - 1.0


def format_table(r: SwapBenchResult) -> str:
    rows = [
        ("models A / B", f"{r.model_ids[0]} / {r.model_ids[1]}"),
        ("swaps ok / requested", f"{r.swaps_ok} / {r.swaps_requested}"),
        ("frames sent / answered", f"{r.frames_sent} / {r.frames_answered}"),
        ("frames dropped during swaps (target 0)", f"{r.frames_dropped_during_swaps} of {r.frames_sent_during_swaps}"),
        ("frames unanswered outside swaps", str(r.frames_unanswered_outside_swaps)),
        ("longest gap during swaps, client / node", f"{r.max_gap_ms_client:.1f} / {r.max_gap_ms_node:.1f} ms "
                                                    f"(target <= {2 * r.frame_period_ms:.0f} ms)"),
        ("swap duration p50 / p90 / max", f"{r.swap_ms.p50:.1f} / {r.swap_ms.p90:.1f} / {r.swap_ms.max:.1f} ms"),
        ("service answer p50 / max", f"{r.answer_ms.p50:.1f} / {r.answer_ms.max:.1f} ms"),
        ("model_id changes in the answers", f"{r.model_id_changes} (expected {r.swaps_ok})"),
        ("node RSS before / after 2 / after all", " / ".join(f"{v:.1f}" for v in r.rss_mb)
         + f" MiB ({100 * r.rss_growth:+.1f}%, target < 5%)"),
        ("node threads before / after", f"{r.threads[0]} / {r.threads[1]}"),
    ]
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{k:<{width}}  {v}" for k, v in rows)


def write_json(result: SwapBenchResult, path: Path, config: Mapping[str, Any]) -> None:
    """The run's config and result, through the one benchmark JSON writer."""
    data = {"config": {k: str(v) if isinstance(v, Path) else v for k, v in config.items()},
            "result": {**asdict(result), "rss_growth": result.rss_growth}}
    write_benchmark_json(path, data)
