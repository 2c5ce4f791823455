"""The task adapter: what compression needs to know about a model's task, and nothing more.

Every step works on any ``nn.Module`` fed with batches ``(inputs, targets)``; the adapter
supplies the task-specific parts: the training loss, the distillation loss between two
models' outputs, the accuracy metric scored on exported models, the scores that the INT8
export check compares, and the manifest that describes an exported model to the serving node.
Two adapters ship (``detection_task.DetectionTask``, ``classification_task.ClassificationTask``);
for any other task write a class with these members (structural typing: no base class needed).
An adapter may also define ``check_output(shape)``: the recipe check calls it with the shape of
the model's output and it raises ConfigError if the output does not fit the task.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
import torch
from torch import nn

from edge_ai_ros.manifest import ModelManifest

Batch = tuple[torch.Tensor, Any]  # (inputs [N, ...], targets in the task's own format)
Outputs = torch.Tensor | Sequence[torch.Tensor]
PredictFn = Callable[[np.ndarray], np.ndarray]  # input batch [N, ...] -> the model's (first) output [N, ...]


@runtime_checkable
class TaskAdapter(Protocol):
    metric_name: str  # e.g. "mAP@0.5" or "top-1"; the metric is a fraction in [0, 1], higher is better
    input_name: str  # ONNX input and output names of exported models
    output_name: str

    def train_outputs(self, model: nn.Module, inputs: torch.Tensor) -> Outputs:
        """The outputs the loss and distillation see (e.g. logits before any decoding)."""
        ...

    def loss(self, outputs: Outputs, targets: Any) -> torch.Tensor: ...

    def distill_loss(self, student: Outputs, teacher: Outputs, temperature: float) -> torch.Tensor:
        """Soft-target loss of the student against the (detached) teacher, scaled by T^2."""
        ...

    def evaluate(self, predict: PredictFn, data: Iterable[Batch]) -> float:
        """The metric of ``predict`` (an exported or torch model) over the evaluation data."""
        ...

    def scores(self, outputs: np.ndarray) -> np.ndarray:
        """The model output's scores in [0, 1], compared by the INT8 (QDQ) export check."""
        ...

    def manifest(self, onnx_path: Path, *, model_id: str, input_shape: Sequence[int],
                 output_shape: Sequence[int], build: Mapping[str, Any]) -> ModelManifest:
        """The manifest (task kind, labels, decoder, preprocessing) of an exported FP32 model."""
        ...


def torch_predict(model: nn.Module) -> PredictFn:
    """Predictions of a torch model in eval mode (first output if it returns several)."""
    model.eval()

    def predict(batch: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            out = model(torch.from_numpy(np.ascontiguousarray(batch, np.float32)))
        first = out if isinstance(out, torch.Tensor) else out[0]
        return np.asarray(first.numpy())

    return predict


def onnx_predict(path: str | Path) -> PredictFn:
    """Predictions of an ONNX model through ONNX Runtime on CPU (batch 1 at a time for a fixed batch)."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    spec = session.get_inputs()[0]
    fixed_batch = isinstance(spec.shape[0], int)

    def predict(batch: np.ndarray) -> np.ndarray:
        batch = np.ascontiguousarray(batch, np.float32)
        if not fixed_batch:
            return np.asarray(session.run(None, {spec.name: batch})[0])
        return np.concatenate([np.asarray(session.run(None, {spec.name: batch[i : i + 1]})[0])
                               for i in range(batch.shape[0])])

    return predict


def split_batch(batch: object, field_name: str) -> Batch:
    """``(inputs, targets)`` of one batch, refusing anything else with the field to fix."""
    from edge_ai_ros.errors import ConfigError

    if not isinstance(batch, tuple | list) or len(batch) != 2 or not isinstance(batch[0], torch.Tensor):
        raise ConfigError(field_name, f"yields {type(batch).__name__}, not an (inputs tensor, targets) pair",
                          fix="yield (inputs, targets) batches, as a DataLoader over (x, y) samples does")
    return batch[0], batch[1]
