"""YOLO-style detection outputs -> Detections in original-image pixels.

Two layouts (DecoderSpec.layout):
- "yolov5": [N, A, 5 + C] rows of cx, cy, w, h, objectness, C class scores; score = obj * max cls.
- "yolov8": [N, 4 + C, A] columns of cx, cy, w, h, C class scores; score = max cls.
Boxes are in model-input pixels and scores already sigmoided. Only batch item 0 is decoded.
"""

from __future__ import annotations

import numpy as np

from edge_ai_ros.decoders.base import DecodedFrame, label_of
from edge_ai_ros.decoders.nms import batched_nms
from edge_ai_ros.engines.base import TensorSpec
from edge_ai_ros.errors import ManifestError
from edge_ai_ros.manifest import DecoderSpec
from edge_ai_ros.preprocess import LetterboxTransform
from edge_ai_ros.results import Detection


class YoloDecoder:
    """Threshold, class-aware NMS, max_detections, letterbox undone."""

    task = "detection"

    def __init__(self, spec: DecoderSpec, labels: tuple[str, ...]) -> None:
        self._spec = spec
        self._labels = labels
        self._extra = 5 if spec.layout == "yolov5" else 4

    def check_output(self, spec: TensorSpec) -> None:
        if len(spec.shape) != 3:
            raise ManifestError(
                f"decoder yolo needs a rank-3 output, {spec.name!r} has shape {list(spec.shape)}",
                fix="export the detector with a [N, A, 5 + C] (yolov5) or [N, 4 + C, A] (yolov8) output",
            )
        width = spec.shape[2] if self._spec.layout == "yolov5" else spec.shape[1]
        expected = self._extra + len(self._labels)
        if self._labels and isinstance(width, int) and width != expected:
            raise ManifestError(
                f"output {spec.name!r} has {width} values per box, the {self._spec.layout} layout with "
                f"{len(self._labels)} labels needs {expected}",
                fix="make labels match the model's classes, or set decoder.layout",
            )

    def rows(self, output: np.ndarray) -> np.ndarray:
        """Batch item 0 as [A, extra + C] rows whatever the layout."""
        if output.ndim != 3 or output.shape[0] < 1:
            raise ManifestError(f"yolo output must be [N, ., .], got shape {output.shape}")
        item: np.ndarray = output[0] if self._spec.layout == "yolov5" else output[0].T
        if item.shape[1] <= self._extra:
            raise ManifestError(f"yolo output rows have {item.shape[1]} values, need more than {self._extra}")
        return item

    def decode(self, output: np.ndarray, transform: LetterboxTransform) -> DecodedFrame:
        rows = self.rows(output)
        class_scores = rows[:, self._extra :]
        class_ids = class_scores.argmax(axis=1)
        scores = class_scores[np.arange(rows.shape[0]), class_ids]
        if self._extra == 5:
            scores = scores * rows[:, 4]
        keep = scores > self._spec.score_threshold
        rows, scores, class_ids = rows[keep], scores[keep], class_ids[keep]
        boxes = _xywh_to_xyxy(rows[:, :4].astype(np.float32))
        kept = batched_nms(boxes, scores, class_ids, self._spec.iou_threshold, self._spec.max_detections)
        original = transform.to_original(boxes[kept])
        return DecodedFrame(detections=tuple(
            Detection(class_id=int(class_ids[i]), label=label_of(self._labels, int(class_ids[i])),
                      score=float(scores[i]), box=(float(b[0]), float(b[1]), float(b[2]), float(b[3])))
            for i, b in zip(kept, original, strict=True)
        ))


def _xywh_to_xyxy(xywh: np.ndarray) -> np.ndarray:
    half = xywh[:, 2:4] / 2.0
    return np.concatenate([xywh[:, :2] - half, xywh[:, :2] + half], axis=1)
