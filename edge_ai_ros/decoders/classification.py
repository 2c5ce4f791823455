"""Classification outputs [N, C] (logits or probabilities) -> top-k classes of batch item 0."""

from __future__ import annotations

import numpy as np

from edge_ai_ros.decoders.base import DecodedFrame, label_of
from edge_ai_ros.engines.base import TensorSpec
from edge_ai_ros.errors import ManifestError
from edge_ai_ros.manifest import DecoderSpec
from edge_ai_ros.preprocess import LetterboxTransform
from edge_ai_ros.results import Classification


def looks_like_probabilities(values: np.ndarray) -> bool:
    """True if the row is already a distribution (all in [0, 1], summing to 1)."""
    return bool(values.min() >= 0.0 and values.max() <= 1.0 and abs(float(values.sum()) - 1.0) < 1e-3)


def softmax(values: np.ndarray) -> np.ndarray:
    shifted: np.ndarray = np.exp(values - values.max())
    total: np.ndarray = shifted / shifted.sum()
    return total


class ClassificationDecoder:
    """Top-k with scores as probabilities; softmax applied to logits (DecoderSpec.activation)."""

    task = "classification"

    def __init__(self, spec: DecoderSpec, labels: tuple[str, ...]) -> None:
        self._spec = spec
        self._labels = labels

    def check_output(self, spec: TensorSpec) -> None:
        flat = [d for d in spec.shape[1:] if d != 1]
        if not spec.shape or len(flat) > 1:
            raise ManifestError(
                f"decoder classification needs an [N, C] output, {spec.name!r} has shape {list(spec.shape)}",
                fix="export the classifier with a flattened [N, C] output",
            )
        if self._labels and flat and isinstance(flat[0], int) and flat[0] != len(self._labels):
            raise ManifestError(
                f"output {spec.name!r} has {flat[0]} classes but the manifest has {len(self._labels)} labels",
                fix="make labels match the model's classes",
            )

    def decode(self, output: np.ndarray, transform: LetterboxTransform) -> DecodedFrame:
        del transform  # a class does not depend on where the pixels were
        row = output.reshape(output.shape[0], -1)[0].astype(np.float32)
        activation = self._spec.activation
        if activation == "softmax" or (activation == "auto" and not looks_like_probabilities(row)):
            row = softmax(row)
        k = min(self._spec.top_k, row.shape[0])
        top = np.argsort(-row, kind="stable")[:k]
        return DecodedFrame(classification=Classification(
            class_ids=tuple(int(i) for i in top),
            labels=tuple(label_of(self._labels, int(i)) for i in top),
            scores=tuple(float(row[i]) for i in top),
        ))
