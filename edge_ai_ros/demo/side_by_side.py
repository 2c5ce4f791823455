"""FP32 baseline against compressed INT8 on the demo bag, in process, same run, same backend.

The node serves one model live over ROS; this pass runs *both* models over the same bag
frames in this process, frame by frame in alternating order (so load on a shared CPU hits
both alike), on the runtime the node used, through the same ``Perception`` data path the
node uses. It yields each model's mAP@0.5 on the bag and its median engine time per frame
(the engine call only, as the node's inference_ms). No rclpy, no torch.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edge_ai_ros.demo.compressed import ModelFacts
from edge_ai_ros.demo.run_report import FrameOutcome, GroundTruthSet, score_map


@dataclass(frozen=True, kw_only=True)
class PassResult:
    """One model's numbers from the in-process pass."""

    frames: int
    map50: float | None
    engine_ms_p50: float


@dataclass(frozen=True, kw_only=True)
class Column:
    """One model's column of the side-by-side table."""

    label: str
    model_id: str
    precision: str
    served: bool  # this is the model the node served live
    parameters: int | None
    size_bytes: int
    map50_live: float | None  # from the node's answers (served model only)
    map50_in_process: float | None
    engine_ms_p50_in_process: float | None
    engine_ms_p50_node: float | None  # the node's own diagnostics (served model only)
    heldout_map50: float | None  # the manifest's held-out generated-scene mAP


@dataclass(frozen=True, kw_only=True)
class SideBySide:
    backend: str
    frames: int
    columns: tuple[Column, ...]
    compile: str  # how the INT8 engine was obtained (cache hit or built, gate)
    note: str
    load_average: tuple[float, float] = (0.0, 0.0)  # 1-minute load before and after the in-process pass

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def bag_frames(bag: str | Path, topic: str) -> list[tuple[int, np.ndarray]]:
    """(index, RGB pixels) of every frame of ``topic``, in recorded order."""
    from edge_ai_ros.bags.source import BagSource, decode_frame

    source = BagSource(bag, topic)
    return [(f.index, decode_frame(source.msgtype, f.data)) for f in source.frames()]


def run_pass(manifests: Mapping[str, Path], frames: Sequence[tuple[int, np.ndarray]], *, backend: str,
             truth: GroundTruthSet | None, warmup: int = 3) -> dict[str, PassResult]:
    """Every frame through every model, alternating which goes first; mAP and median engine ms each."""
    from contextlib import ExitStack

    from edge_ai_ros.pipeline import Perception

    labels = list(manifests)
    outcomes: dict[str, list[FrameOutcome]] = {label: [] for label in labels}
    times: dict[str, list[float]] = {label: [] for label in labels}
    with ExitStack() as stack:
        models = {label: stack.enter_context(Perception(manifests[label], backend=backend)) for label in labels}
        for model in models.values():
            model.warmup(warmup)
        for position, (index, image) in enumerate(frames):
            for label in labels if position % 2 == 0 else labels[::-1]:
                result = models[label].run(image)
                times[label].append(result.timings.inference_s)
                outcomes[label].append(FrameOutcome(index=index, bag_time_ns=0, latency_s=None,
                                                    detections=result.detections))
    return {label: PassResult(
        frames=len(frames), engine_ms_p50=round(1e3 * statistics.median(times[label]), 3),
        map50=round(float(score_map(outcomes[label], truth)["map"]), 4) if truth is not None else None,
    ) for label in labels}


def build_columns(facts: Sequence[ModelFacts], passes: Mapping[str, PassResult], *, served: str,
                  live_map50: float | None, node_engine_ms: float | None) -> tuple[Column, ...]:
    columns = []
    for f in facts:
        p = passes.get(f.label)
        is_served = f.label == served
        columns.append(Column(
            label=f.label, model_id=f.model_id, precision=f.precision, served=is_served, parameters=f.parameters,
            size_bytes=f.size_bytes, map50_live=live_map50 if is_served else None,
            map50_in_process=None if p is None else p.map50,
            engine_ms_p50_in_process=None if p is None else p.engine_ms_p50,
            engine_ms_p50_node=node_engine_ms if is_served else None, heldout_map50=f.heldout_map50))
    return tuple(columns)


def _num(value: float | int | None, fmt: str) -> str:
    return "-" if value is None else format(value, fmt)


def to_markdown(s: SideBySide) -> str:
    """The comparison table, each row saying where its number comes from."""
    cols = s.columns
    head = " | ".join(f"{c.label.upper()}{' (served)' if c.served else ''}" for c in cols)
    rows = [
        ("model id", [c.model_id for c in cols]),
        ("mAP@0.5 on the bag, live (node's answers)", [_num(c.map50_live, ".3f") for c in cols]),
        (f"mAP@0.5 on the bag, in-process pass ({s.frames} frames)", [_num(c.map50_in_process, ".3f") for c in cols]),
        ("engine ms/frame, median, in-process interleaved", [_num(c.engine_ms_p50_in_process, ".2f") for c in cols]),
        ("engine ms/frame, p50, node diagnostics", [_num(c.engine_ms_p50_node, ".2f") for c in cols]),
        ("model size on disk (ONNX)", [_num(None if c.size_bytes is None else c.size_bytes / 1e6, ".2f") + " MB"
                                       for c in cols]),
        ("parameters (manifest)", [_num(c.parameters, ",d") for c in cols]),
        ("held-out mAP@0.5, generated scenes (manifest)", [_num(c.heldout_map50, ".3f") for c in cols]),
    ]
    load = f"load average {s.load_average[0]:.2f} -> {s.load_average[1]:.2f} over the in-process pass"
    lines = ["## FP32 baseline vs compressed INT8", "", f"Backend for both: {s.backend} ({load}). {s.compile}", "",
             f"| | {head} |", "|---|" + "---|" * len(cols)]
    lines += [f"| {name} | {' | '.join(values)} |" for name, values in rows]
    return "\n".join([*lines, "", s.note]) + "\n"
