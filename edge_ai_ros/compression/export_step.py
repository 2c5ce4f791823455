"""Export a variant of any model to ONNX with its manifest (described by the task adapter).

FP32 variants: opset, dynamic batch, onnx.checker, ONNX Runtime compared with PyTorch on a
real input at ``atol`` (default 1e-3). QAT variants need a looser
comparison (torch and the runtime sum convolutions in different orders, and a value on a
rounding tie lands one INT8 step apart, which later layers amplify), so they are exported
here with the same names and axes, finalised to int8/int32 initializers (``qdq_onnx``),
checked, and compared on the task's scores (``TaskAdapter.scores``: a detector's sigmoided
scores, a classifier's softmax).

The comparison runs ONNX Runtime's fused INT8 kernels on this host, so it is only meaningful
for a format this host runs exactly (``edge_ai_ros.int8_format``): full-range s8 weights on
an x86 CPU without VNNI saturate ``vpmaddubsw`` and fail it by design. The manifest records
the host's features and the capabilities the format needs (``host``), so a node on a CPU
without them refuses the model instead of serving wrong scores.

Why the check reads the share of moved scores and their 99th percentile, not the maximum:
torch and the runtime sum each convolution in a different order, so a value on an INT8
rounding tie lands one step apart now and then; later layers amplify one such flip into a
score change up to about 0.05 at a few isolated anchors, and where that happens depends on
the kernels of the host. Saturation moves a large share of scores (on the demo detector's check
frame with 8-bit weights on an AVX2 host: 19.7 % by > 0.005, p99 0.096, max 0.36); tie flips a
small one (0.3 to 0.6 % of the scores of three frames, p99 under 0.003, with the format each
host gets).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from edge_ai_ros.atomic_io import atomic_output_path
from edge_ai_ros.compression.qat import FakeQuantConv2d, freeze_qat
from edge_ai_ros.compression.qdq_onnx import count_qdq_nodes, finalize_qdq
from edge_ai_ros.compression.task import TaskAdapter
from edge_ai_ros.errors import CompileError
from edge_ai_ros.host import describe_host, host_features, host_record
from edge_ai_ros.int8_format import Int8Format, required_capabilities
from edge_ai_ros.manifest import manifest_path_for, save_manifest

SCORE_MOVED_BY = 0.005  # a score "moved" when ONNX Runtime INT8 and torch fake-quant differ by more
QDQ_MAX_MOVED_FRACTION = 0.05  # share of objectness/class scores allowed to move
QDQ_MAX_P99 = 0.02  # 99th percentile of the score differences


@dataclass(frozen=True, kw_only=True)
class ScoreAgreement:
    """How far the runtime's INT8 scores are from torch's fake-quantized ones."""

    max_abs: float
    p99: float
    moved_fraction: float

    @classmethod
    def between(cls, out: np.ndarray, expected: np.ndarray) -> ScoreAgreement:
        """Compare two YOLO-layout detector outputs [N, A, 5 + C] on their objectness and class scores."""
        return cls.between_scores(np.asarray(out)[..., 4:], np.asarray(expected)[..., 4:])

    @classmethod
    def between_scores(cls, out: np.ndarray, expected: np.ndarray) -> ScoreAgreement:
        """Compare two arrays of scores in [0, 1] (a task adapter's ``scores`` of each output)."""
        diff = np.abs(np.asarray(out, np.float64) - np.asarray(expected, np.float64))
        return cls(max_abs=float(diff.max()), p99=float(np.percentile(diff, 99)),
                   moved_fraction=float(np.mean(diff > SCORE_MOVED_BY)))

    @property
    def passed(self) -> bool:
        return self.moved_fraction <= QDQ_MAX_MOVED_FRACTION and self.p99 <= QDQ_MAX_P99

    def summary(self) -> str:
        return (f"{self.moved_fraction:.2%} of scores moved by > {SCORE_MOVED_BY} (allowed "
                f"{QDQ_MAX_MOVED_FRACTION:.0%}), p99 {self.p99:.3g} (allowed {QDQ_MAX_P99}), max {self.max_abs:.3g}")


@dataclass(frozen=True, kw_only=True)
class ExportedVariant:
    onnx_path: Path
    manifest_path: Path
    max_abs_diff: float  # ONNX Runtime vs PyTorch on the check input (scores only for QDQ)
    qdq_nodes: int
    agreement: ScoreAgreement | None = None  # QDQ only


@dataclass(frozen=True, kw_only=True)
class ExportOptions:
    """How a variant is exported and checked. ``check_input`` is a real input batch (not noise)."""

    check_input: torch.Tensor
    model_id: str = "model"
    opset: int = 17
    dynamic_batch: bool = True
    atol: float = 1e-3  # FP32: ONNX Runtime vs PyTorch, largest absolute difference
    build: Mapping[str, object] = field(default_factory=dict)


def _torch_export(model: nn.Module, tmp: Path, task: TaskAdapter, options: ExportOptions) -> np.ndarray:
    """Export to ``tmp`` with the TorchScript exporter; returns torch's output on the check input."""
    with torch.no_grad():
        out = model(options.check_input)
    expected = (out if isinstance(out, torch.Tensor) else out[0]).numpy()
    names = (task.input_name, task.output_name)
    axes = {names[0]: {0: "batch"}, names[1]: {0: "batch"}} if options.dynamic_batch else None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # the TorchScript exporter's own notice
        torch.onnx.export(model, (options.check_input,), str(tmp), input_names=[names[0]], output_names=[names[1]],
                          dynamic_axes=axes, opset_version=options.opset, dynamo=False)
    return np.asarray(expected)


def export_fp32(model: nn.Module, path: Path, task: TaskAdapter, options: ExportOptions) -> ExportedVariant:
    """Export ``model`` to ONNX, check it (onnx.checker, ONNX Runtime vs torch) and write its manifest."""
    import onnx

    model.eval()
    with atomic_output_path(path) as tmp:
        expected = _torch_export(model, tmp, task, options)
        onnx.checker.check_model(str(tmp), full_check=True)
        diff = float(np.max(np.abs(_ort_output(tmp, options.check_input.numpy(), task.input_name) - expected)))
        if not diff <= options.atol:
            raise CompileError(f"ONNX Runtime output differs from torch by {diff:.3g} (allowed {options.atol})",
                               fix="check the model for ops that export differently; try another export.opset")
    manifest = task.manifest(path, model_id=options.model_id, input_shape=tuple(options.check_input.shape),
                             output_shape=expected.shape, build=options.build)
    manifest_path = save_manifest(manifest, manifest_path_for(path))
    return ExportedVariant(onnx_path=path, manifest_path=manifest_path, max_abs_diff=diff, qdq_nodes=0)


def export_qdq(model: nn.Module, path: Path, task: TaskAdapter, options: ExportOptions) -> ExportedVariant:
    """Freeze the QAT model's scales and export it as a QDQ ONNX model (INT8 manifest with host facts)."""
    import onnx

    freeze_qat(model)
    model.eval()
    fmt = qat_int8_format(model)
    with atomic_output_path(path) as tmp:
        expected = _torch_export(model, tmp, task, options)
        finalize_qdq(tmp)
        onnx.checker.check_model(str(tmp), full_check=True)
        out = _ort_output(tmp, options.check_input.numpy(), task.input_name)
        agreement = ScoreAgreement.between_scores(task.scores(out), task.scores(expected))
        if not agreement.passed:
            raise CompileError(f"QDQ model scores differ from the fake-quantized torch model: {agreement.summary()}",
                               fix=_mismatch_fix(fmt))
        nodes = count_qdq_nodes(tmp)
    host = host_record(required_capabilities(fmt)) | {"int8_format": fmt.facts(), "checked_with": "onnxruntime",
                                                      "checked_on": describe_host()["cpu_model"]}
    manifest = task.manifest(path, model_id=options.model_id, input_shape=tuple(options.check_input.shape),
                             output_shape=expected.shape, build=options.build)
    manifest = manifest.with_updates(precision="int8", host=host)
    manifest_path = save_manifest(manifest, manifest_path_for(path))
    return ExportedVariant(onnx_path=path, manifest_path=manifest_path, max_abs_diff=agreement.max_abs,
                           qdq_nodes=nodes["QuantizeLinear"] + nodes["DequantizeLinear"], agreement=agreement)


def qat_int8_format(model: nn.Module) -> Int8Format:
    """The INT8 format a prepared QAT model was trained in (its widest weight range)."""
    convs = [m for m in model.modules() if isinstance(m, FakeQuantConv2d)]
    if not convs:
        raise CompileError("the model has no fake-quantized convolutions", fix="run prepare_qat before export")
    activation = "s8" if convs[0].input_quant.symmetric else "u8"
    return Int8Format(activation=activation, weight_qmax=max(m.weight_qmax for m in convs),
                      reason="as trained")


def _mismatch_fix(fmt: Int8Format) -> str:
    features = host_features()
    if required_capabilities(fmt, features) and not features.int8_dot:
        return ("this CPU has no VNNI/AMX, where ONNX Runtime's u8 x s8 kernels saturate with full-range "
                "weights: use 7-bit weights, weight_qmax 64 (in a recipe's qat step, or QatConfig)")
    return "check qat.activation against the runtime"


def _ort_output(path: Path, tensor: np.ndarray, input_name: str) -> np.ndarray:
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return np.asarray(session.run(None, {input_name: tensor})[0])
