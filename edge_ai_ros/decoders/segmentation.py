"""Segmentation outputs [N, C, h, w] -> uint8 class-id mask of the original image.

The mask may be at a lower resolution than the model input (an output stride). Each
original pixel centre is mapped through the letterbox into input pixels, then into output
cells, and takes that cell's class (nearest neighbour): exact, and no resize library.
"""

from __future__ import annotations

import numpy as np

from edge_ai_ros.decoders.base import DecodedFrame
from edge_ai_ros.engines.base import TensorSpec
from edge_ai_ros.errors import ManifestError
from edge_ai_ros.manifest import DecoderSpec
from edge_ai_ros.preprocess import LetterboxTransform

MAX_CLASSES = 256  # class ids must fit the uint8 (mono8) mask


class SegmentationDecoder:
    """Argmax over classes, letterbox undone, nearest-neighbour back to the original size."""

    task = "segmentation"

    def __init__(self, spec: DecoderSpec, labels: tuple[str, ...]) -> None:
        self._spec = spec
        self._labels = labels

    def check_output(self, spec: TensorSpec) -> None:
        if len(spec.shape) != 4:
            raise ManifestError(
                f"decoder segmentation needs an [N, C, H, W] output, {spec.name!r} has shape {list(spec.shape)}",
                fix="export the segmentation head with NCHW logits",
            )
        classes = spec.shape[1]
        if isinstance(classes, int) and classes > MAX_CLASSES:
            raise ManifestError(f"output {spec.name!r} has {classes} classes; a uint8 mask holds {MAX_CLASSES}")

    def decode(self, output: np.ndarray, transform: LetterboxTransform) -> DecodedFrame:
        if output.ndim != 4:
            raise ManifestError(f"segmentation output must be [N, C, H, W], got shape {output.shape}")
        classes = output[0].argmax(axis=0).astype(np.uint8)
        rows = _source_indices(transform.orig_height, transform.scale_y, transform.pad_y,
                               transform.input_height, classes.shape[0])
        cols = _source_indices(transform.orig_width, transform.scale_x, transform.pad_x,
                               transform.input_width, classes.shape[1])
        return DecodedFrame(mask=classes[rows[:, None], cols[None, :]])


def _source_indices(size: int, scale: float, pad: float, input_size: int, output_size: int) -> np.ndarray:
    """Output cell index for each original pixel along one axis (pixel centres, nearest)."""
    centres = (np.arange(size, dtype=np.float64) + 0.5) * scale + pad
    stride = input_size / output_size if input_size > 0 else 1.0
    return np.clip(np.floor(centres / stride), 0, output_size - 1).astype(np.intp)
