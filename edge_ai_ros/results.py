"""Decoded model outputs, independent of ROS message types.

Boxes are in original-image pixel coordinates (letterboxing undone), x1 y1 x2 y2.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True, kw_only=True)
class Detection:
    class_id: int
    label: str
    score: float
    box: tuple[float, float, float, float]  # x1, y1, x2, y2 in original-image pixels


@dataclass(frozen=True, kw_only=True)
class Classification:
    class_ids: tuple[int, ...]  # top-k, best first
    labels: tuple[str, ...]
    scores: tuple[float, ...]


@dataclass(frozen=True, kw_only=True)
class StageTimings:
    """Seconds spent in each stage of one frame."""

    preprocess_s: float = 0.0
    inference_s: float = 0.0
    postprocess_s: float = 0.0

    @property
    def total_s(self) -> float:
        return self.preprocess_s + self.inference_s + self.postprocess_s


@dataclass(frozen=True, kw_only=True)
class FrameResult:
    """What one frame produced; exactly one of detections/classification/mask is meaningful."""

    model_id: str
    task: str
    detections: tuple[Detection, ...] = ()
    classification: Classification | None = None
    mask: np.ndarray | None = None  # uint8 HxW class ids, original image size
    timings: StageTimings = field(default_factory=StageTimings)


@dataclass(frozen=True, kw_only=True)
class FrameDetections:
    """Detections for one input frame, keyed by the image's header stamp (ns)."""

    index: int  # position of the frame on the topic, 0-based
    stamp_ns: int
    detections: tuple[Detection, ...] = ()
