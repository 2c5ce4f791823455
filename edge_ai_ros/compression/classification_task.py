"""Task adapter for classifiers with an [N, C] logit output: cross-entropy, top-1, softmax KD.

Targets are class indices [N] (int64). Distillation is Hinton's: KL divergence between the
temperature-softened softmax of student and teacher, scaled by T^2.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from edge_ai_ros.compression.manifest_parts import onnx_manifest, preprocess_for
from edge_ai_ros.compression.task import Batch, Outputs, PredictFn
from edge_ai_ros.errors import ConfigError
from edge_ai_ros.manifest import DecoderSpec, ModelManifest


def _logits(outputs: Outputs) -> torch.Tensor:
    return outputs if isinstance(outputs, torch.Tensor) else outputs[0]


class ClassificationTask:
    metric_name = "top-1"

    def __init__(self, *, labels: Sequence[str] = (), preprocess: Mapping[str, Any] | None = None,
                 label_smoothing: float = 0.0, input_name: str = "images", output_name: str = "logits") -> None:
        self.labels = tuple(labels)
        self.preprocess_options = dict(preprocess or {"letterbox": False})
        self.label_smoothing = label_smoothing
        self.input_name, self.output_name = input_name, output_name
        preprocess_for((1, 3, 32, 32), self.preprocess_options)  # a bad spec fails here, not after training

    def check_output(self, shape: Sequence[int]) -> None:
        """The model's output must be [N, C], with C = len(labels) when labels are given."""
        if len(shape) != 2 or (self.labels and shape[-1] != len(self.labels)):
            raise ConfigError("task.labels", f"the model outputs {list(shape)}, a classifier with "
                              f"{len(self.labels) or 'C'} labels gives [N, {len(self.labels) or 'C'}]",
                              fix="list one label per class, and flatten the logits to [N, C]")

    def train_outputs(self, model: nn.Module, inputs: torch.Tensor) -> Outputs:
        out: Outputs = model(inputs)
        return out

    def loss(self, outputs: Outputs, targets: Any) -> torch.Tensor:
        return F.cross_entropy(_logits(outputs), torch.as_tensor(targets).long(), label_smoothing=self.label_smoothing)

    def distill_loss(self, student: Outputs, teacher: Outputs, temperature: float) -> torch.Tensor:
        s, t = _logits(student) / temperature, _logits(teacher).detach() / temperature
        kl = F.kl_div(F.log_softmax(s, dim=1), F.log_softmax(t, dim=1), reduction="batchmean", log_target=True)
        return kl * temperature * temperature

    def evaluate(self, predict: PredictFn, data: Iterable[Batch]) -> float:
        correct = total = 0
        for inputs, targets in data:
            predicted = predict(inputs.numpy()).reshape(inputs.shape[0], -1).argmax(axis=1)
            correct += int((predicted == np.asarray(targets).reshape(-1)).sum())
            total += int(inputs.shape[0])
        return correct / total if total else 0.0

    def scores(self, outputs: np.ndarray) -> np.ndarray:
        logits = np.asarray(outputs, np.float64).reshape(outputs.shape[0], -1)
        shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
        return np.asarray(shifted / shifted.sum(axis=1, keepdims=True))

    def manifest(self, onnx_path: Path, *, model_id: str, input_shape: Sequence[int],
                 output_shape: Sequence[int], build: Mapping[str, Any]) -> ModelManifest:
        classes = int(output_shape[-1])
        labels = self.labels or tuple(f"class_{i}" for i in range(classes))
        return onnx_manifest(onnx_path, model_id=model_id, task="classification", labels=labels,
                             decoder=DecoderSpec(kind="classification", activation="softmax"),
                             preprocess=preprocess_for(input_shape, self.preprocess_options),
                             input_name=self.input_name, output_name=self.output_name, input_shape=input_shape,
                             output_shape=output_shape, build=build)
