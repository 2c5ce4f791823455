"""Golden files: the detections a trusted engine produced for every frame of one bag.

A golden file names the model it came from and fingerprints the bag topic it was made
on, so that comparing it with a run of another model or another bag is refused with a
clear message instead of reported as a regression. The same format holds a candidate
run's detections (``detections.json`` in a replay's output directory), so a trusted
candidate is promoted to golden by copying it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edge_ai_ros.atomic_io import atomic_write_text
from edge_ai_ros.bags.fingerprint import BagIdentity
from edge_ai_ros.errors import ConfigError
from edge_ai_ros.results import Detection, FrameDetections

GOLDEN_SCHEMA = "edge_ai_ros.golden/1"


@dataclass(frozen=True, kw_only=True)
class ModelIdentity:
    """Which model produced a run: a golden only applies to runs of the same network."""

    model_id: str
    source_onnx_sha256: str = ""
    labels: tuple[str, ...] = ()
    precision: str = ""
    backend: str = ""


@dataclass(frozen=True, kw_only=True)
class GoldenFile:
    model: ModelIdentity
    bag: BagIdentity
    frames: tuple[FrameDetections, ...]
    metadata: Mapping[str, Any] = field(default_factory=dict)

    def by_stamp(self) -> dict[int, FrameDetections]:
        return {frame.stamp_ns: frame for frame in self.frames}


# ---- checks ----------------------------------------------------------------------------
def check_same_bag(golden: GoldenFile, bag: BagIdentity, golden_path: str | Path) -> None:
    """Refuse a golden made on another bag or topic: its differences would mean nothing."""
    if golden.bag.topic != bag.topic:
        raise ConfigError(
            "golden", f"{golden_path} was recorded on topic {golden.bag.topic!r}, this replay reads {bag.topic!r}",
            fix="pass --topic to match the golden, or record a new golden with --record-golden",
        )
    if golden.bag.fingerprint != bag.fingerprint:
        raise ConfigError(
            "golden",
            f"{golden_path} was recorded on bag {golden.bag.name!r} ({golden.bag.frame_count} frames, "
            f"{golden.bag.fingerprint[:19]}…), this bag {bag.name!r} has {bag.frame_count} frames "
            f"({bag.fingerprint[:19]}…): a different recording",
            fix="use the golden that belongs to this bag, or record one with --record-golden",
        )


def check_same_model(golden: GoldenFile, model: ModelIdentity, golden_path: str | Path) -> None:
    """Refuse a golden of another network; other engines of the same network are the point."""
    if golden.model.labels and model.labels and golden.model.labels != model.labels:
        raise ConfigError(
            "golden", f"{golden_path} is from model {golden.model.model_id!r} with labels "
            f"{list(golden.model.labels)}, the candidate {model.model_id!r} has {list(model.labels)}",
            fix="compare engines of the same model, or record a golden for this model with --record-golden",
        )
    same_source = golden.model.source_onnx_sha256 == model.source_onnx_sha256
    if golden.model.source_onnx_sha256 and model.source_onnx_sha256 and not same_source:
        raise ConfigError(
            "golden", f"{golden_path} is from model {golden.model.model_id!r} (source ONNX "
            f"{golden.model.source_onnx_sha256[:12]}…), the candidate {model.model_id!r} was built from "
            f"{model.source_onnx_sha256[:12]}…: another network",
            fix="compare engines built from the same ONNX model, or pass --any-model to compare anyway",
        )


# ---- serialisation ---------------------------------------------------------------------
def _detection_to_dict(det: Detection) -> dict[str, Any]:
    return {
        "class_id": det.class_id, "label": det.label, "score": round(float(det.score), 6),
        "box": [round(float(v), 3) for v in det.box],
    }


def _detection_from_dict(data: Mapping[str, Any]) -> Detection:
    box = tuple(float(v) for v in data["box"])
    if len(box) != 4:
        raise ValueError(f"box must have 4 numbers, got {len(box)}")
    return Detection(
        class_id=int(data["class_id"]), label=str(data.get("label", "")), score=float(data["score"]),
        box=(box[0], box[1], box[2], box[3]),
    )


def golden_to_dict(golden: GoldenFile) -> dict[str, Any]:
    return {
        "schema": GOLDEN_SCHEMA,
        "model": {
            "model_id": golden.model.model_id, "source_onnx_sha256": golden.model.source_onnx_sha256,
            "labels": list(golden.model.labels), "precision": golden.model.precision,
            "backend": golden.model.backend,
        },
        "bag": {
            "name": golden.bag.name, "topic": golden.bag.topic,
            "fingerprint": golden.bag.fingerprint, "frame_count": golden.bag.frame_count,
        },
        "metadata": dict(golden.metadata),
        "frames": [
            {"index": f.index, "stamp_ns": f.stamp_ns, "detections": [_detection_to_dict(d) for d in f.detections]}
            for f in golden.frames
        ],
    }


def golden_from_dict(data: Mapping[str, Any]) -> GoldenFile:
    if data.get("schema") != GOLDEN_SCHEMA:
        raise ValueError(f"schema is {data.get('schema')!r}, expected {GOLDEN_SCHEMA!r}")
    model, bag = data["model"], data["bag"]
    return GoldenFile(
        model=ModelIdentity(
            model_id=str(model["model_id"]), source_onnx_sha256=str(model.get("source_onnx_sha256", "")),
            labels=tuple(str(x) for x in model.get("labels", ())), precision=str(model.get("precision", "")),
            backend=str(model.get("backend", "")),
        ),
        bag=BagIdentity(
            name=str(bag["name"]), topic=str(bag["topic"]), fingerprint=str(bag["fingerprint"]),
            frame_count=int(bag["frame_count"]),
        ),
        metadata=dict(data.get("metadata", {})),
        frames=tuple(
            FrameDetections(
                index=int(f["index"]), stamp_ns=int(f["stamp_ns"]),
                detections=tuple(_detection_from_dict(d) for d in f["detections"]),
            )
            for f in data["frames"]
        ),
    )


def save_golden(golden: GoldenFile, path: str | Path) -> Path:
    return atomic_write_text(path, json.dumps(golden_to_dict(golden), indent=1) + "\n")


def load_golden(path: str | Path) -> GoldenFile:
    path = Path(path)
    if not path.is_file():
        raise ConfigError("golden", f"file not found: {path}", fix="pass an existing golden JSON or use --record-golden")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(data, dict):
            raise ValueError("top level is not a JSON object")
        return golden_from_dict(data)
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError) as err:
        raise ConfigError(
            "golden", f"{path} is not a readable golden file: {type(err).__name__}: {err}",
            fix="record it again with --record-golden",
        ) from err


def make_golden(
    *, model: ModelIdentity, bag: BagIdentity, frames: Sequence[FrameDetections],
    metadata: Mapping[str, Any] | None = None,
) -> GoldenFile:
    return GoldenFile(model=model, bag=bag, frames=tuple(frames), metadata=dict(metadata or {}))
