"""End-to-end layouts: the model already chose its boxes, so no NMS here (docs/detectors.md)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from edge_ai_ros.decoders.layouts import Candidates, Layout, activate, best_class, is_rank, named, register
from edge_ai_ros.engines.base import TensorSpec
from edge_ai_ros.errors import ManifestError


@register
class Yolov10Layout(Layout):
    """YOLOv10 (and Ultralytics end2end exports): [B, K, 6] rows x1 y1 x2 y2 score class, input pixels."""

    name = "yolov10"
    default_box_format = "xyxy"

    def check(self, specs: Sequence[TensorSpec]) -> None:
        self.need_rank(specs[0], 3, "[B, K, 6]")
        if isinstance(specs[0].shape[2], int) and specs[0].shape[2] != 6:
            raise ManifestError(f"layout yolov10 needs [B, K, 6] rows (x1, y1, x2, y2, score, class), output "
                                f"{specs[0].name!r} has shape {list(specs[0].shape)}",
                                fix="pick the decoder.layout of the exporter that wrote the model")

    def candidates(self, outputs: Sequence[np.ndarray], input_size: tuple[int, int]) -> Candidates:
        rows = outputs[0][0]
        return Candidates(boxes=self.to_xyxy(rows[:, :4], input_size), scores=rows[:, 4].astype(np.float32),
                          class_ids=np.rint(rows[:, 5]).astype(np.int64), needs_nms=False)


@register
class RtdetrLayout(Layout):
    """RT-DETR: [B, K, 4 + C]; cx cy w h normalised to 0-1, C class scores (sigmoided or logits)."""

    name = "rtdetr"
    default_box_format = "cxcywh_norm"
    default_activation = "auto"

    def check(self, specs: Sequence[TensorSpec]) -> None:
        self.need_rank(specs[0], 3, "[B, K, 4 + C]")
        self.need_width(specs[0], 2, 4)

    def candidates(self, outputs: Sequence[np.ndarray], input_size: tuple[int, int]) -> Candidates:
        rows = outputs[0][0]
        scores, ids = best_class(self.activate(rows[:, 4:]))
        return Candidates(boxes=self.to_xyxy(rows[:, :4], input_size), scores=scores, class_ids=ids,
                          needs_nms=False)

    def activate(self, scores: np.ndarray) -> np.ndarray:
        """"auto": logits when any value is outside [0, 1] (a probability never is)."""
        if self.activation == "auto":
            outside = scores.size and (float(scores.min()) < 0.0 or float(scores.max()) > 1.0)
            return activate(scores, "sigmoid" if outside else "none")
        return activate(scores, self.activation)


@register
class OnnxNmsLayout(Layout):
    """ONNX NonMaxSuppression in the graph: boxes [B, N, 4], scores [B, C, N], selected [M, 3]."""

    name = "onnx_nms"
    roles = {
        "boxes": lambda spec: len(spec.shape) == 3 and spec.shape[-1] == 4,
        "scores": is_rank(3),
        "selected": lambda spec: len(spec.shape) == 2 and spec.dtype.startswith("int"),
    }
    default_box_format = "xyxy"

    def check(self, specs: Sequence[TensorSpec]) -> None:
        self.need_rank(specs[0], 3, "boxes [B, N, 4]")
        self.need_rank(specs[1], 3, "scores [B, C, N]")
        self.need_rank(specs[2], 2, "selected indices [M, 3] (batch, class, box)")
        self.need_width(specs[1], 1, 0)

    def candidates(self, outputs: Sequence[np.ndarray], input_size: tuple[int, int]) -> Candidates:
        boxes, scores, selected = outputs[0][0], self.activate(outputs[1][0]), outputs[2].astype(np.int64)
        selected = selected[selected[:, 0] == 0]
        classes, indices = selected[:, 1], selected[:, 2]
        return Candidates(boxes=self.to_xyxy(boxes[indices], input_size),
                          scores=scores[classes, indices].astype(np.float32), class_ids=classes, needs_nms=False)


@register
class EfficientNmsLayout(Layout):
    """TensorRT EfficientNMS: num_dets [B, 1], det_boxes [B, K, 4], det_scores [B, K], det_classes [B, K]."""

    name = "efficient_nms"
    roles = {
        "num_dets": named("num"),
        "det_boxes": named("box"),
        "det_scores": named("score"),
        "det_classes": named("class", "label"),
    }
    default_box_format = "xyxy"

    def check(self, specs: Sequence[TensorSpec]) -> None:
        self.need_rank(specs[1], 3, "det_boxes [B, K, 4]")
        self.need_rank(specs[2], 2, "det_scores [B, K]")
        self.need_rank(specs[3], 2, "det_classes [B, K]")

    def candidates(self, outputs: Sequence[np.ndarray], input_size: tuple[int, int]) -> Candidates:
        count = int(np.asarray(outputs[0]).reshape(-1)[0])
        boxes = outputs[1][0][:count]
        return Candidates(boxes=self.to_xyxy(boxes, input_size), scores=outputs[2][0][:count].astype(np.float32),
                          class_ids=outputs[3][0][:count].astype(np.int64), needs_nms=False)

