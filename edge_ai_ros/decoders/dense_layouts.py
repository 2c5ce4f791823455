"""Dense layouts: one candidate per anchor point, NMS still to do (formulas in docs/detectors.md)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from edge_ai_ros.decoders.layouts import Candidates, Layout, best_class, is_rank, register
from edge_ai_ros.engines.base import TensorSpec
from edge_ai_ros.errors import ManifestError
from edge_ai_ros.manifest import DecoderSpec


@register
class Yolov8Layout(Layout):
    """Ultralytics YOLOv8 / YOLO11: [B, 4 + C, N]; cx cy w h in input pixels, C sigmoided scores."""

    name = "yolov8"

    def check(self, specs: Sequence[TensorSpec]) -> None:
        self.need_rank(specs[0], 3, "[B, 4 + C, N]")
        self.need_width(specs[0], 1, 4)

    def candidates(self, outputs: Sequence[np.ndarray], input_size: tuple[int, int]) -> Candidates:
        rows = outputs[0][0].T
        scores, ids = best_class(self.activate(rows[:, 4:]))
        return Candidates(boxes=self.to_xyxy(rows[:, :4], input_size), scores=scores, class_ids=ids)


@register
class Yolov5Layout(Layout):
    """YOLOv5 / YOLOv7: [B, N, 5 + C]; cx cy w h in input pixels, objectness, C scores; obj x cls."""

    name = "yolov5"

    def check(self, specs: Sequence[TensorSpec]) -> None:
        self.need_rank(specs[0], 3, "[B, N, 5 + C]")
        self.need_width(specs[0], 2, 5)

    def candidates(self, outputs: Sequence[np.ndarray], input_size: tuple[int, int]) -> Candidates:
        rows = self.rows(outputs[0][0], input_size)
        scores, ids = best_class(self.activate(rows[:, 5:]) * self.activate(rows[:, 4:5]))
        return Candidates(boxes=self.to_xyxy(rows[:, :4], input_size), scores=scores, class_ids=ids)

    def rows(self, item: np.ndarray, input_size: tuple[int, int]) -> np.ndarray:
        del input_size
        return item


@register
class YoloxLayout(Yolov5Layout):
    """YOLOX exported with the in-graph decode: the same rows as YOLOv5 (score = obj x cls)."""

    name = "yolox"


@register
class YoloxRawLayout(Yolov5Layout):
    """YOLOX without the in-graph decode: xy are grid offsets, wh log sizes, over strides 8/16/32."""

    name = "yolox_raw"
    strides = (8, 16, 32)

    def __init__(self, spec: DecoderSpec, num_classes: int) -> None:
        super().__init__(spec, num_classes)
        self._grids: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = {}

    def rows(self, item: np.ndarray, input_size: tuple[int, int]) -> np.ndarray:
        grid, stride = self._grid(input_size, item.shape[0])
        decoded = np.array(item, dtype=np.float32)
        decoded[:, :2] = (item[:, :2] + grid) * stride
        decoded[:, 2:4] = np.exp(item[:, 2:4]) * stride
        return decoded

    def _grid(self, input_size: tuple[int, int], count: int) -> tuple[np.ndarray, np.ndarray]:
        """(x, y) cell of every row [N, 2] and its stride [N, 1]: stride by stride, row-major."""
        if input_size not in self._grids:
            width, height = input_size
            cells, strides = [], []
            for s in self.strides:
                ys, xs = np.meshgrid(np.arange(height // s), np.arange(width // s), indexing="ij")
                cells.append(np.stack([xs.ravel(), ys.ravel()], axis=1))
                strides.append(np.full((xs.size, 1), s))
            self._grids[input_size] = (np.concatenate(cells).astype(np.float32),
                                       np.concatenate(strides).astype(np.float32))
        grid, stride = self._grids[input_size]
        if grid.shape[0] != count:
            raise ManifestError(
                f"yolox_raw output has {count} rows; a {input_size[0]}x{input_size[1]} input over strides "
                f"{self.strides} makes {grid.shape[0]}",
                fix="check preprocess.width/height, or use layout yolox if the model decodes in-graph",
            )
        return grid, stride


@register
class SsdLayout(Layout):
    """Two outputs: boxes [B, N, 4] (decoded, xyxy by default) and scores [B, N, C (+1 background)]."""

    name = "ssd"
    roles = {"boxes": lambda spec: len(spec.shape) == 3 and spec.shape[-1] == 4, "scores": is_rank(3)}
    default_box_format = "xyxy"

    def check(self, specs: Sequence[TensorSpec]) -> None:
        self.need_rank(specs[0], 3, "boxes [B, N, 4]")
        self.need_rank(specs[1], 3, "scores [B, N, C]")
        self.need_width(specs[1], 2, 1 if self.spec.background_class else 0)

    def candidates(self, outputs: Sequence[np.ndarray], input_size: tuple[int, int]) -> Candidates:
        probabilities = self.activate(outputs[1][0])
        if self.spec.background_class:
            probabilities = probabilities[:, 1:]  # activation first: softmax runs over background too
        scores, ids = best_class(probabilities)
        return Candidates(boxes=self.to_xyxy(outputs[0][0], input_size), scores=scores, class_ids=ids)


@register
class Yolov8SegLayout(Layout):
    """Ultralytics YOLOv8-seg: [B, 4 + C + M, N] and prototypes [B, M, h, w]."""

    name = "yolov8_seg"
    roles = {"predictions": is_rank(3), "prototypes": is_rank(4)}

    def check(self, specs: Sequence[TensorSpec]) -> None:
        self.need_rank(specs[0], 3, "predictions [B, 4 + C + M, N]")
        self.need_rank(specs[1], 4, "prototypes [B, M, h, w]")
        masks = specs[1].shape[1]
        if isinstance(masks, int):
            self.need_width(specs[0], 1, 4 + masks)

    def candidates(self, outputs: Sequence[np.ndarray], input_size: tuple[int, int]) -> Candidates:
        prototypes = outputs[1][0]
        masks = prototypes.shape[0]
        rows = outputs[0][0].T
        scores, ids = best_class(self.activate(rows[:, 4 : rows.shape[1] - masks]))
        return Candidates(boxes=self.to_xyxy(rows[:, :4], input_size), scores=scores, class_ids=ids,
                          coefficients=rows[:, rows.shape[1] - masks :], prototypes=prototypes)
