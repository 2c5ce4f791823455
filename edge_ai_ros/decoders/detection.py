"""Detection through the layout registry: candidates -> threshold -> NMS where still due -> boxes.

Every layout of layouts.LAYOUTS is decoded here; the demo's single-output yolov5/yolov8 path
stays in yolo.py. A multi-output decoder says which outputs it reads (``check_outputs``) and
the pipeline hands it those arrays in that order (``decode_outputs``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from edge_ai_ros.decoders import dense_layouts, end_to_end  # noqa: F401 - registers the layouts
from edge_ai_ros.decoders.base import DecodedFrame, label_of
from edge_ai_ros.decoders.instance_masks import instance_mask
from edge_ai_ros.decoders.layouts import LAYOUTS, Candidates, Layout
from edge_ai_ros.decoders.nms import batched_nms
from edge_ai_ros.engines.base import TensorSpec
from edge_ai_ros.errors import ManifestError
from edge_ai_ros.manifest import DecoderSpec
from edge_ai_ros.preprocess import LetterboxTransform
from edge_ai_ros.results import Detection


def make_layout(spec: DecoderSpec, num_classes: int) -> Layout:
    try:
        return LAYOUTS[spec.layout](spec, num_classes)
    except KeyError:
        raise ManifestError(f"decoder.layout {spec.layout!r} is unknown",
                            fix=f"use one of {', '.join(LAYOUTS)}") from None


class LayoutDecoder:
    """Detections (and, for yolov8_seg, an instance-id mask) from any registered layout."""

    task = "detection"

    def __init__(self, spec: DecoderSpec, labels: tuple[str, ...]) -> None:
        self._spec = spec
        self._labels = labels
        self._layout = make_layout(spec, len(labels))

    @property
    def layout(self) -> Layout:
        return self._layout

    def check_outputs(self, specs: Sequence[TensorSpec]) -> tuple[str, ...]:
        """The names of the outputs this layout reads, in its order; ManifestError if they do not fit."""
        chosen = self._layout.assign(specs)
        self._layout.check(chosen)
        return tuple(s.name for s in chosen)

    def check_output(self, spec: TensorSpec) -> None:
        self.check_outputs((spec,))

    def decode(self, output: np.ndarray, transform: LetterboxTransform) -> DecodedFrame:
        return self.decode_outputs((output,), transform)

    def decode_outputs(self, outputs: Sequence[np.ndarray], transform: LetterboxTransform) -> DecodedFrame:
        size = (transform.input_width or transform.orig_width, transform.input_height or transform.orig_height)
        found = self._layout.candidates(outputs, size)
        found = found.select(found.scores > self._spec.score_threshold)
        found = found.select(self._kept(found))
        boxes = transform.to_original(found.boxes)
        mask = None
        if found.coefficients is not None and found.prototypes is not None:
            mask = instance_mask(found.coefficients, found.prototypes, boxes, transform, self._spec.mask_threshold)
        return DecodedFrame(mask=mask, detections=tuple(
            Detection(class_id=int(c), label=label_of(self._labels, int(c)), score=float(s),
                      box=(float(b[0]), float(b[1]), float(b[2]), float(b[3])))
            for c, s, b in zip(found.class_ids, found.scores, boxes, strict=True)
        ))

    def _kept(self, found: Candidates) -> np.ndarray:
        """Indices kept, best first: class-aware NMS where the model did none, else the top scores."""
        cap = self._spec.max_detections
        if found.needs_nms:
            return batched_nms(found.boxes, found.scores, found.class_ids, self._spec.iou_threshold, cap)
        return np.argsort(-found.scores, kind="stable")[:cap]
