"""The registry of detection output layouts: one small class per exporter's format.

A layout turns the raw output tensors of batch item 0 into ``Candidates``: boxes as x1 y1 x2 y2
in model-input pixels, one score and class per box, whether NMS is still to be done, and
(instance segmentation) mask coefficients with their prototypes. Thresholds, NMS, the
detection cap and the letterbox undo are shared (detection.py). The formulas and their
sources are in docs/detectors.md.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from edge_ai_ros.engines.base import TensorSpec
from edge_ai_ros.errors import ManifestError
from edge_ai_ros.manifest import DecoderSpec


@dataclass(frozen=True, kw_only=True)
class Candidates:
    """Boxes [K, 4] x1y1x2y2 in input pixels, scores [K], class ids [K] of one image."""

    boxes: np.ndarray
    scores: np.ndarray
    class_ids: np.ndarray
    needs_nms: bool = True
    coefficients: np.ndarray | None = None  # [K, M] mask coefficients (yolov8_seg)
    prototypes: np.ndarray | None = None  # [M, h, w] mask prototypes (yolov8_seg)

    def select(self, keep: np.ndarray) -> Candidates:
        coefficients = None if self.coefficients is None else self.coefficients[keep]
        return Candidates(boxes=self.boxes[keep], scores=self.scores[keep], class_ids=self.class_ids[keep],
                          needs_nms=self.needs_nms, coefficients=coefficients, prototypes=self.prototypes)


RoleMatcher = Callable[[TensorSpec], bool]


class Layout:
    """Base of every layout: output roles, a shape check, and ``candidates``."""

    name: ClassVar[str]
    # role -> does an output spec look like it (name or shape); matched in this order
    roles: ClassVar[dict[str, RoleMatcher]] = {"predictions": lambda spec: True}
    default_box_format: ClassVar[str] = "cxcywh"
    default_activation: ClassVar[str] = "none"

    def __init__(self, spec: DecoderSpec, num_classes: int) -> None:
        self.spec = spec
        self.num_classes = num_classes  # 0 = unknown (no labels)
        self.box_format = spec.box_format or self.default_box_format
        self.activation = self.default_activation if spec.activation == "auto" else spec.activation

    def check(self, specs: Sequence[TensorSpec]) -> None:
        """Raise ManifestError if the outputs (in role order) cannot be this layout."""

    def candidates(self, outputs: Sequence[np.ndarray], input_size: tuple[int, int]) -> Candidates:
        """Outputs in role order, input (width, height) -> candidates of batch item 0."""
        raise NotImplementedError

    def assign(self, specs: Sequence[TensorSpec]) -> tuple[TensorSpec, ...]:
        """The engine outputs this layout reads, in role order (decoder.outputs names them explicitly)."""
        if self.spec.outputs:
            by_name = {s.name: s for s in specs}
            missing = [n for n in self.spec.outputs if n not in by_name]
            if missing or len(self.spec.outputs) != len(self.roles):
                raise ManifestError(
                    f"decoder.outputs {list(self.spec.outputs)} must name {len(self.roles)} engine outputs "
                    f"({', '.join(self.roles)}); the engine has {sorted(by_name)}",
                    fix="list the outputs in the layout's role order, or leave decoder.outputs empty",
                )
            return tuple(by_name[n] for n in self.spec.outputs)
        return self._match_roles(specs)

    def _match_roles(self, specs: Sequence[TensorSpec]) -> tuple[TensorSpec, ...]:
        free = list(specs)
        chosen: list[TensorSpec] = []
        for role, matches in self.roles.items():
            found = next((s for s in free if matches(s)), None)
            if found is None:
                raise ManifestError(
                    f"layout {self.name} needs outputs {', '.join(self.roles)}; no output fits {role!r} "
                    f"among {[(s.name, list(s.shape)) for s in specs]}",
                    fix="set decoder.outputs to the output names in that order, or pick another decoder.layout",
                )
            chosen.append(found)
            free.remove(found)
        return tuple(chosen)

    def need_rank(self, spec: TensorSpec, rank: int, shape_text: str) -> None:
        if len(spec.shape) != rank:
            raise ManifestError(
                f"layout {self.name} needs {shape_text}, output {spec.name!r} has shape {list(spec.shape)}",
                fix="pick the decoder.layout of the exporter that wrote the model (edge-ai-ros inspect)",
            )

    def need_width(self, spec: TensorSpec, axis: int, extra: int) -> None:
        """The class count along ``axis`` (minus ``extra`` box/objectness values) matches the labels."""
        width = spec.shape[axis]
        if self.num_classes and isinstance(width, int) and width - extra != self.num_classes:
            raise ManifestError(
                f"output {spec.name!r} has {width} values along axis {axis}, layout {self.name} with "
                f"{self.num_classes} labels needs {extra + self.num_classes}",
                fix="make labels match the model's classes, or set decoder.layout",
            )

    def to_xyxy(self, boxes: np.ndarray, input_size: tuple[int, int]) -> np.ndarray:
        return to_xyxy(boxes, self.box_format, input_size)

    def activate(self, scores: np.ndarray) -> np.ndarray:
        return activate(scores, self.activation)


LAYOUTS: dict[str, type[Layout]] = {}


def register(cls: type[Layout]) -> type[Layout]:
    LAYOUTS[cls.name] = cls
    return cls


def to_xyxy(boxes: np.ndarray, box_format: str, input_size: tuple[int, int]) -> np.ndarray:
    """Boxes [K, 4] in ``box_format`` -> float32 x1 y1 x2 y2 in input pixels."""
    boxes = boxes.astype(np.float32, copy=False)
    base = box_format.removesuffix("_norm")
    if base == "cxcywh":
        half = boxes[:, 2:4] / 2.0
        out = np.concatenate([boxes[:, :2] - half, boxes[:, :2] + half], axis=1)
    elif base == "yxyx":
        out = boxes[:, [1, 0, 3, 2]]
    else:
        out = np.array(boxes, dtype=np.float32)
    if box_format.endswith("_norm"):
        width, height = input_size
        out = out * np.asarray([width, height, width, height], dtype=np.float32)
    return out


def activate(scores: np.ndarray, activation: str) -> np.ndarray:
    """Scores as probabilities: "sigmoid"/"softmax" treat them as logits, "none" as they are."""
    values = scores.astype(np.float32, copy=False)
    if activation == "sigmoid":
        return np.asarray(1.0 / (1.0 + np.exp(-values)), dtype=np.float32)
    if activation == "softmax":
        shifted = np.exp(values - values.max(axis=-1, keepdims=True))
        return np.asarray(shifted / shifted.sum(axis=-1, keepdims=True), dtype=np.float32)
    return values


def best_class(class_scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """[K, C] scores -> (best score [K], its class id [K])."""
    if class_scores.shape[0] == 0 or class_scores.shape[1] == 0:
        return np.zeros(0, np.float32), np.zeros(0, np.int64)
    ids = class_scores.argmax(axis=1)
    return class_scores[np.arange(class_scores.shape[0]), ids], ids.astype(np.int64)


def is_rank(rank: int) -> RoleMatcher:
    return lambda spec: len(spec.shape) == rank


def named(*words: str) -> RoleMatcher:
    return lambda spec: any(w in spec.name.lower() for w in words)
