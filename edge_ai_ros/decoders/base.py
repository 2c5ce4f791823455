"""What every decoder returns and the interface the pipeline calls."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from edge_ai_ros.engines.base import TensorSpec
from edge_ai_ros.preprocess import LetterboxTransform
from edge_ai_ros.results import Classification, Detection


@dataclass(frozen=True, kw_only=True)
class DecodedFrame:
    """The task-specific pieces of a results.FrameResult (the pipeline adds id and timings)."""

    detections: tuple[Detection, ...] = ()
    classification: Classification | None = None
    mask: np.ndarray | None = None


class Decoder(Protocol):
    """Turns one raw output tensor into results, in original-image coordinates."""

    task: str

    def check_output(self, spec: TensorSpec) -> None:
        """Raise ManifestError if an output of this spec cannot be decoded (checked at load)."""
        ...

    def decode(self, output: np.ndarray, transform: LetterboxTransform) -> DecodedFrame: ...


def label_of(labels: tuple[str, ...], class_id: int) -> str:
    """The label of a class id, or the id as text when the manifest has fewer labels."""
    return labels[class_id] if 0 <= class_id < len(labels) else str(class_id)
