"""The replay report people look at: metrics table, latency percentiles, worst-frame overlays.

Written as markdown (for CI logs and pull requests) and as a self-contained HTML page next
to PNG overlays of the frames that differ most from golden: golden boxes solid green,
candidate boxes dashed magenta (edge_ai_ros.imaging.draw's two replay styles).
"""

from __future__ import annotations

import html
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edge_ai_ros.atomic_io import atomic_write_text
from edge_ai_ros.imaging.draw import CANDIDATE_STYLE, GOLDEN_STYLE, draw_detections, save_png
from edge_ai_ros.replay.compare import ComparisonSummary, FrameComparison
from edge_ai_ros.results import Detection
from edge_ai_ros.stats import summarize

ImageLookup = Callable[[int], np.ndarray | None]  # frame index -> RGB pixels, None if unavailable
_STAGES_NOTE = ("transport_in: replayer publish -> node callback; queue_wait: node callback -> worker; "
                "conversion .. build_publish: the node's work; transport_out: node publish -> replayer "
                "callback; total: publish -> output received. The ROS path is transport_in + queue_wait + "
                "build_publish + transport_out.")


@dataclass(frozen=True, kw_only=True)
class ReportInput:
    title: str
    facts: Sequence[tuple[str, str]]  # what was replayed: bag, topic, model, engine, frames
    latencies_s: Sequence[float]
    throughput_fps: Mapping[str, float] = field(default_factory=dict)
    comparison: ComparisonSummary | None = None
    notes: Sequence[str] = ()  # warnings a reader must see first (truncated bag, unanswered frames)
    worst_count: int = 6
    stages_ms: Mapping[str, Mapping[str, float]] = field(default_factory=dict)  # stage_percentiles()


@dataclass(frozen=True, kw_only=True)
class ReportFiles:
    markdown: Path
    html: Path
    overlays: tuple[Path, ...]


def latency_percentiles(latencies_s: Sequence[float]) -> dict[str, float]:
    """The shared summary (edge_ai_ros.stats) in milliseconds; an empty dict when there are none."""
    return summarize(latencies_s, scale=1e3).to_dict() if latencies_s else {}


def stage_percentiles(frames: Sequence[Mapping[str, float]]) -> dict[str, dict[str, float]]:
    """Per stage (in the frames' order of stages), the shared summary in ms over the frames that have it."""
    names = list(dict.fromkeys(name for frame in frames for name in frame))
    return {name: summarize(frame[name] for frame in frames if name in frame).to_dict() for name in names}


def stage_rows(data: ReportInput) -> list[list[str]]:
    """Header + one row per stage: the where-did-the-time-go table."""
    if not data.stages_ms:
        return []
    keys = ("p50", "p90", "p99", "max")
    return [["stage (ms)", *keys]] + [[name, *(f"{row[k]:.2f}" for k in keys)] for name, row in data.stages_ms.items()]


def metric_rows(data: ReportInput) -> list[tuple[str, str]]:
    rows = list(data.facts)
    cmp = data.comparison
    if cmp is not None:
        rows += [
            ("verdict", "PASS" if cmp.passed else "FAIL"),
            ("frames failed", f"{cmp.frames_failed} of {len(cmp.frames)}"),
            ("frames without output", str(cmp.frames_without_output)),
            ("precision vs golden", f"{cmp.precision:.4f}"),
            ("recall vs golden", f"{cmp.recall:.4f}"),
            ("mAP@0.5 vs golden", f"{cmp.map50:.4f}"),
            ("tolerances", _tolerance_text(cmp)),
        ]
    rows += [(f"latency {k} (ms)", f"{v:.2f}") for k, v in latency_percentiles(data.latencies_s).items() if k != "count"]
    rows += [(f"{name} (frames/s)", f"{fps:.1f}") for name, fps in data.throughput_fps.items()]
    return rows


def _tolerance_text(cmp: ComparisonSummary) -> str:
    t = cmp.tolerances
    return (f"IoU >= {t.min_iou}, score change <= {t.max_score_diff}, missing/frame <= {t.max_missing_per_frame}, "
            f"extra/frame <= {t.max_extra_per_frame}, failed frames <= {t.max_failed_frame_fraction:.0%}, "
            f"unmatched below score {t.ignore_unmatched_below} ignored")


def _frame_sides(frame: FrameComparison) -> tuple[list[Detection], list[Detection]]:
    golden = [p.golden for p in frame.matched] + list(frame.missing)
    candidate = [p.candidate for p in frame.matched] + list(frame.extra)
    return golden, candidate


def _frame_caption(frame: FrameComparison) -> str:
    output = "" if frame.has_output else ", no output"
    return (f"frame {frame.index} (stamp {frame.stamp_ns}): {len(frame.matched)} matched, {len(frame.missing)} missing, "
            f"{len(frame.extra)} extra, {len(frame.score_changes)} score changes{output}")


def write_overlays(frames: Sequence[FrameComparison], images: ImageLookup, out_dir: Path) -> list[tuple[FrameComparison, Path]]:
    """One PNG per frame: golden boxes, then candidate boxes on top, in the two replay styles."""
    written = []
    for frame in frames:
        image = images(frame.index)
        if image is None:
            continue
        golden, candidate = _frame_sides(frame)
        canvas = draw_detections(draw_detections(image, golden, style=GOLDEN_STYLE), candidate, style=CANDIDATE_STYLE)
        written.append((frame, save_png(out_dir / "overlays" / f"frame_{frame.index:05d}.png", canvas)))
    return written


def render_markdown(data: ReportInput, overlays: Sequence[tuple[FrameComparison, Path]], base: Path) -> str:
    lines = [f"# {data.title}", ""]
    lines += [f"> **Note:** {note}" for note in data.notes] + ([""] if data.notes else [])
    lines += ["| metric | value |", "|---|---|"]
    lines += [f"| {name} | {value.replace('|', '/')} |" for name, value in metric_rows(data)]
    stages = stage_rows(data)
    if stages:
        lines += ["", "## Where the time went, per frame", "", _STAGES_NOTE, "",
                  "| " + " | ".join(stages[0]) + " |", "|---" * len(stages[0]) + "|"]
        lines += ["| " + " | ".join(row) + " |" for row in stages[1:]]
    if overlays:
        lines += ["", "## Frames that differ most", "",
                  "Golden boxes: solid green. Candidate boxes: dashed magenta, label below the box.", ""]
        for frame, path in overlays:
            lines += [f"**{_frame_caption(frame)}**", "", f"![frame {frame.index}]({path.relative_to(base)})", ""]
    return "\n".join(lines) + "\n"


def render_html(data: ReportInput, overlays: Sequence[tuple[FrameComparison, Path]], base: Path) -> str:
    esc = html.escape
    rows = "".join(f"<tr><th>{esc(n)}</th><td>{esc(v)}</td></tr>" for n, v in metric_rows(data))
    stages = stage_rows(data)
    if stages:
        cells = "".join("<tr>" + "".join(f"<td>{esc(c)}</td>" for c in row) + "</tr>" for row in stages[1:])
        head = "".join(f"<th>{esc(c)}</th>" for c in stages[0])
        rows += (f"</table><h2>Where the time went, per frame</h2><p>{esc(_STAGES_NOTE)}</p>"
                 f"<table><tr>{head}</tr>{cells}")
    notes = "".join(f'<p class="note">{esc(n)}</p>' for n in data.notes)
    figures = "".join(
        f'<figure><img src="{esc(str(path.relative_to(base)))}" alt="frame {frame.index}">'
        f"<figcaption>{esc(_frame_caption(frame))}</figcaption></figure>"
        for frame, path in overlays
    )
    legend = ('<p><span style="color:#28dc3c">&#9632; golden (solid)</span> &nbsp; '
              '<span style="color:#f028c8">&#9632; candidate (dashed)</span></p>') if overlays else ""
    style = ("body{font-family:sans-serif;margin:2em;max-width:1100px}table{border-collapse:collapse}"
             "th,td{border:1px solid #ccc;padding:4px 10px;text-align:left}.note{background:#fff3cd;padding:6px}"
             "figure{display:inline-block;margin:8px}img{max-width:520px}")
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{esc(data.title)}</title>"
            f"<style>{style}</style></head><body><h1>{esc(data.title)}</h1>{notes}<table>{rows}</table>"
            f"{'<h2>Frames that differ most</h2>' if overlays else ''}{legend}{figures}</body></html>\n")


def write_report(data: ReportInput, images: ImageLookup, out_dir: str | Path) -> ReportFiles:
    """report.md, report.html and overlays/*.png under ``out_dir``."""
    base = Path(out_dir)
    worst = data.comparison.worst(data.worst_count) if data.comparison is not None else ()
    overlays = write_overlays(worst, images, base)
    md = atomic_write_text(base / "report.md", render_markdown(data, overlays, base))
    page = atomic_write_text(base / "report.html", render_html(data, overlays, base))
    return ReportFiles(markdown=md, html=page, overlays=tuple(p for _, p in overlays))
