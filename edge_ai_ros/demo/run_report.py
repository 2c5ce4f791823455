"""What ``edge-ai-ros demo`` reports after a run: summary numbers, markdown, contact sheet.

Pure data in, files out (no rclpy): the runner hands over which bag frame went out with
which stamp and what came back for each stamp; this module matches them, scores them
against the bag's ground truth when there is one, and draws the sheet.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edge_ai_ros import stats
from edge_ai_ros.errors import ConfigError
from edge_ai_ros.imaging.draw import BoxStyle, SheetLayout, contact_sheet, draw_detections
from edge_ai_ros.results import Detection


@dataclass(frozen=True, kw_only=True)
class FrameOutcome:
    """One published frame and what the node answered (None: dropped or lost)."""

    index: int
    bag_time_ns: int
    latency_s: float | None
    detections: tuple[Detection, ...] | None


def match_outputs(published: Sequence[tuple[int, int, int]],
                  received: Sequence[tuple[int, float, tuple[Detection, ...]]]) -> list[FrameOutcome]:
    """Join (index, bag_time_ns, stamp_ns) with (stamp_ns, latency_s, detections) on the stamp."""
    answers = {stamp: (latency, dets) for stamp, latency, dets in received}
    out = []
    for index, bag_ns, stamp in published:
        latency, dets = answers.get(stamp, (None, None))
        out.append(FrameOutcome(index=index, bag_time_ns=bag_ns, latency_s=latency, detections=dets))
    return out


@dataclass(frozen=True, kw_only=True)
class GroundTruthSet:
    labels: tuple[str, ...]
    frames: dict[int, tuple[np.ndarray, np.ndarray]]  # frame index -> (boxes [K,4] x1y1x2y2, class ids [K])


def load_ground_truth(path: Path) -> GroundTruthSet:
    """The demo bag's ground_truth.json: {"labels": [...], "frames": [{"index", "boxes", "class_ids"}]}."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        frames = {
            int(f["index"]): (np.asarray(f["boxes"], np.float64).reshape(-1, 4), np.asarray(f["class_ids"], np.int64))
            for f in data["frames"]
        }
        return GroundTruthSet(labels=tuple(str(x) for x in data["labels"]), frames=frames)
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise ConfigError("ground_truth", f"cannot read {path}: {err}",
                          fix="regenerate the demo bag, or run without ground truth") from err


def _latency_ms(latencies_s: Sequence[float]) -> dict[str, float] | None:
    """The shared summary (edge_ai_ros.stats) in ms, rounded to 0.01 ms; None without answers."""
    if not latencies_s:
        return None
    return {key: round(value, 2) for key, value in stats.summarize(latencies_s, scale=1e3).to_dict().items()}


def score_map(outcomes: Sequence[FrameOutcome], truth: GroundTruthSet) -> dict[str, Any]:
    """mAP@0.5 over the answered frames that have ground truth."""
    from edge_ai_ros.metrics.map import mean_average_precision

    preds, gts = [], []
    for o in outcomes:
        if o.detections is None or o.index not in truth.frames:
            continue
        dets = o.detections
        preds.append((np.asarray([d.box for d in dets], np.float64).reshape(-1, 4),
                      np.asarray([d.score for d in dets], np.float64), np.asarray([d.class_id for d in dets], np.int64)))
        gts.append(truth.frames[o.index])
    result = mean_average_precision(preds, gts, num_classes=len(truth.labels), iou_threshold=0.5)
    return {**result.as_dict(list(truth.labels)), "frames_scored": len(preds)}


@dataclass(frozen=True, kw_only=True)
class DemoSummary:
    model_id: str
    backend: str
    bag: str
    frames_published: int
    frames_answered: int
    wall_s: float
    fps: float
    latency_ms: dict[str, float] | None  # end to end, the shared summary keys (count, mean, p50, p90, p99, max)
    engine_ms: dict[str, float]  # the node's own p50/p99 engine time (its diagnostics), where it reported them
    detections_per_class: dict[str, int]
    map50: dict[str, Any] | None
    comparison: dict[str, Any] | None = None  # FP32 vs INT8 side by side (demo/side_by_side.py)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=False) + "\n"


def summarize(outcomes: Sequence[FrameOutcome], *, model_id: str, backend: str, bag: str, wall_s: float,
              diagnostics: Mapping[str, str], truth: GroundTruthSet | None) -> DemoSummary:
    answered = [o for o in outcomes if o.detections is not None]
    latencies = [o.latency_s for o in answered if o.latency_s is not None]
    per_class = Counter(d.label or str(d.class_id) for o in answered for d in o.detections or ())

    engine_ms = {}
    for key in ("p50", "p99"):
        try:
            engine_ms[key] = float(diagnostics[f"inference_ms_{key}"])
        except (KeyError, ValueError):
            continue

    return DemoSummary(
        model_id=model_id, backend=backend, bag=bag, frames_published=len(outcomes),
        frames_answered=len(answered), wall_s=round(wall_s, 2),
        fps=round(len(answered) / wall_s, 2) if wall_s > 0 else 0.0,
        latency_ms=_latency_ms(latencies), engine_ms=engine_ms,
        detections_per_class=dict(sorted(per_class.items())),
        map50=score_map(outcomes, truth) if truth is not None and answered else None,
    )


def _get(summary: Mapping[str, float] | None, key: str) -> float | None:
    return None if summary is None else summary.get(key)


def _fmt(value: float | None, unit: str = " ms") -> str:
    return "-" if value is None else f"{value:.1f}{unit}"


def to_markdown(s: DemoSummary) -> str:
    """A short human summary (the same numbers as summary.json)."""
    lines = [
        f"# edge-ai-ros demo: {s.model_id} on {s.backend}", "",
        f"Bag: `{s.bag}`", "",
        "| metric | value |", "|---|---|",
        f"| frames published / answered | {s.frames_published} / {s.frames_answered} |",
        f"| throughput | {s.fps:.1f} fps over {s.wall_s:.1f} s |",
        f"| end-to-end latency p50 / p99 | {_fmt(_get(s.latency_ms, 'p50'))} / {_fmt(_get(s.latency_ms, 'p99'))} |",
        f"| engine time p50 / p99 | {_fmt(s.engine_ms.get('p50'))} / {_fmt(s.engine_ms.get('p99'))} |",
    ]
    if s.map50 is not None:
        lines.append(f"| mAP@0.5 ({s.map50['frames_scored']} frames) | {s.map50['map']:.3f} |")
    lines += ["", "| class | detections | AP@0.5 |", "|---|---|---|"]
    per_ap = (s.map50 or {}).get("per_class_ap", {})
    for label in sorted(set(s.detections_per_class) | set(per_ap)):
        ap = per_ap.get(label)
        lines.append(f"| {label} | {s.detections_per_class.get(label, 0)} | {'-' if ap is None else f'{ap:.3f}'} |")
    return "\n".join(lines) + "\n"


def pick_sheet_frames(outcomes: Sequence[FrameOutcome], count: int) -> list[FrameOutcome]:
    """``count`` answered frames spread evenly over the run."""
    answered = [o for o in outcomes if o.detections is not None]
    if len(answered) <= count:
        return answered
    picks = np.linspace(0, len(answered) - 1, count).round().astype(int)
    return [answered[i] for i in picks]


def _scaled_tile(image: np.ndarray, detections: Sequence[Detection], width: int) -> np.ndarray:
    """Resize first, then draw, so boxes and labels stay crisp and readable on the sheet."""
    from PIL import Image

    scale = width / image.shape[1]
    size = (width, max(1, round(image.shape[0] * scale)))
    small = np.asarray(Image.fromarray(image).resize(size, Image.Resampling.BILINEAR))
    scaled = [Detection(class_id=d.class_id, label=d.label, score=d.score,
                        box=(d.box[0] * scale, d.box[1] * scale, d.box[2] * scale, d.box[3] * scale))
              for d in detections]
    return draw_detections(small, scaled, style=BoxStyle(line_width=2, font_size=11))


def render_sheet(frames: Sequence[tuple[FrameOutcome, np.ndarray]], *, title: str, columns: int = 4,
                 tile_width: int = 320) -> np.ndarray:
    """The contact sheet: each frame with its detections drawn, captioned with index and latency."""
    tiles = [_scaled_tile(image, outcome.detections or (), tile_width) for outcome, image in frames]
    captions = [f"frame {o.index}  |  {len(o.detections or ())} det  |  e2e {_fmt(_ms(o.latency_s))}"
                for o, _ in frames]
    return contact_sheet(tiles, title=title, captions=captions,
                         layout=SheetLayout(columns=columns, tile_width=tile_width))


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else seconds * 1e3


def read_bag_frames(bag: str | Path, topic: str, indices: set[int]) -> dict[int, np.ndarray]:
    """RGB pixels of the frames at ``indices`` of one image topic (for drawing the sheet)."""
    from rosbags.highlevel import AnyReader

    from edge_ai_ros.imaging.compressed import decode_compressed
    from edge_ai_ros.imaging.raw import decode_raw

    images: dict[int, np.ndarray] = {}
    with AnyReader([Path(bag)]) as reader:
        conns = [c for c in reader.connections if c.topic == topic]
        for index, (conn, _, raw) in enumerate(reader.messages(connections=conns)):
            if index not in indices:
                continue
            msg: Any = reader.deserialize(raw, conn.msgtype)
            if conn.msgtype.endswith("CompressedImage"):
                images[index] = decode_compressed(format=msg.format, data=msg.data.tobytes())
            else:
                images[index] = decode_raw(encoding=msg.encoding, width=msg.width, height=msg.height, step=msg.step,
                                           is_bigendian=msg.is_bigendian, data=msg.data.tobytes())
    return images
