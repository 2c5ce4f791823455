"""Task adapter for detectors with a YOLO-style output ([N, A, 5 + C]: cx cy w h, objectness, classes).

The loss is the user's (a callable ``loss_fn(outputs, targets)`` returning the loss, or a
(loss, parts) pair). Evaluation decodes every output with the serving decoder
(``decoders.yolo``, score threshold 0.001 as mAP needs the full ranking) and scores mAP with
``metrics.map``. Targets of evaluation batches: [N, K, 5] rows of (class id, x1, y1, x2, y2)
in model-input pixels, rows with class id < 0 are padding.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from edge_ai_ros.compression.distill import DistillConfig, logit_distill_loss
from edge_ai_ros.compression.manifest_parts import onnx_manifest, preprocess_for
from edge_ai_ros.compression.task import Batch, Outputs, PredictFn
from edge_ai_ros.decoders.yolo import YoloDecoder
from edge_ai_ros.errors import ConfigError
from edge_ai_ros.manifest import DecoderSpec, ModelManifest
from edge_ai_ros.metrics.map import GroundTruth, Prediction, mean_average_precision
from edge_ai_ros.preprocess import LetterboxTransform

LossFn = Callable[[Any, Any], Any]


class DetectionTask:
    metric_name = "mAP@0.5"

    def __init__(self, *, loss_fn: LossFn, labels: Sequence[str], train_forward: str = "forward",
                 preprocess: Mapping[str, Any] | None = None, score_threshold: float = 0.25,
                 iou_threshold: float = 0.45, input_name: str = "images", output_name: str = "predictions") -> None:
        self.loss_fn, self.labels, self.train_forward = loss_fn, tuple(labels), train_forward
        self.preprocess_options = dict(preprocess or {})
        self.score_threshold, self.iou_threshold = score_threshold, iou_threshold
        self.input_name, self.output_name = input_name, output_name
        preprocess_for((1, 3, 32, 32), self.preprocess_options)  # a bad spec fails here, not after training
        self._decoder = YoloDecoder(DecoderSpec(kind="yolo", score_threshold=0.001, iou_threshold=iou_threshold,
                                                max_detections=100), self.labels)

    def check_output(self, shape: Sequence[int]) -> None:
        """The model's output must be [N, A, 5 + len(labels)] (optional adapter hook, run by the check)."""
        if len(shape) != 3 or shape[-1] != 5 + len(self.labels):
            raise ConfigError("task.labels", f"the model outputs {list(shape)}, the yolo layout with "
                              f"{len(self.labels)} labels is [N, A, {5 + len(self.labels)}]",
                              fix="list one label per class the model predicts")

    def train_outputs(self, model: nn.Module, inputs: torch.Tensor) -> Outputs:
        out: Outputs = getattr(model, self.train_forward)(inputs)
        return out

    def loss(self, outputs: Outputs, targets: Any) -> torch.Tensor:
        result = self.loss_fn(outputs, targets)
        loss: torch.Tensor = result[0] if isinstance(result, tuple) else result
        return loss

    def distill_loss(self, student: Outputs, teacher: Outputs, temperature: float) -> torch.Tensor:
        return logit_distill_loss(student, teacher, DistillConfig(temperature=temperature))

    def evaluate(self, predict: PredictFn, data: Iterable[Batch]) -> float:
        predictions: list[Prediction] = []
        truths: list[GroundTruth] = []
        for inputs, targets in data:
            outputs = predict(inputs.numpy())
            for index in range(outputs.shape[0]):
                predictions.append(self._decode(outputs[index : index + 1], inputs.shape[-1], inputs.shape[-2]))
                rows = np.asarray(targets[index], np.float32).reshape(-1, 5)
                rows = rows[rows[:, 0] >= 0]
                truths.append((rows[:, 1:5], rows[:, 0].astype(np.int64)))
        return mean_average_precision(predictions, truths, num_classes=len(self.labels)).map

    def _decode(self, output: np.ndarray, width: int, height: int) -> Prediction:
        identity = LetterboxTransform(scale_x=1.0, scale_y=1.0, pad_x=0.0, pad_y=0.0, orig_width=width,
                                      orig_height=height, input_width=width, input_height=height)
        dets = self._decoder.decode(output, identity).detections
        boxes = np.array([d.box for d in dets], np.float32).reshape(-1, 4)
        return boxes, np.array([d.score for d in dets], np.float32), np.array([d.class_id for d in dets], np.int64)

    def scores(self, outputs: np.ndarray) -> np.ndarray:
        return np.asarray(outputs[..., 4:])

    def manifest(self, onnx_path: Path, *, model_id: str, input_shape: Sequence[int],
                 output_shape: Sequence[int], build: Mapping[str, Any]) -> ModelManifest:
        decoder = DecoderSpec(kind="yolo", score_threshold=self.score_threshold, iou_threshold=self.iou_threshold)
        return onnx_manifest(onnx_path, model_id=model_id, task="detection", labels=self.labels, decoder=decoder,
                             preprocess=preprocess_for(input_shape, self.preprocess_options),
                             input_name=self.input_name, output_name=self.output_name, input_shape=input_shape,
                             output_shape=output_shape, build=build)
