"""Export a variant to ONNX with its manifest, through the demo exporter where it applies.

FP32 variants go through ``edge_ai_ros.demo.export.export_onnx`` (opset, dynamic batch,
onnx.checker, ONNX Runtime compared with PyTorch at 1e-3). QAT variants need a looser
comparison (torch and the runtime sum convolutions in different orders, and a value on a
rounding tie lands one INT8 step apart, which later layers amplify), so they are exported
here with the same names and axes, finalised to int8/int32 initializers (``qdq_onnx``),
checked, and compared on the sigmoided scores.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from edge_ai_ros.atomic_io import atomic_output_path
from edge_ai_ros.compression.qat import freeze_qat
from edge_ai_ros.compression.qdq_onnx import count_qdq_nodes, finalize_qdq
from edge_ai_ros.errors import CompileError
from edge_ai_ros.manifest import manifest_path_for, save_manifest

QDQ_MAX_SCORE_DIFF = 0.05  # objectness/class scores, ONNX Runtime INT8 vs torch fake-quant


@dataclass(frozen=True, kw_only=True)
class ExportedVariant:
    onnx_path: Path
    manifest_path: Path
    max_abs_diff: float  # ONNX Runtime vs PyTorch on the check frame (scores only for QDQ)
    qdq_nodes: int


def export_fp32(model: nn.Module, path: Path, *, opset: int, dynamic_batch: bool,
                build: dict[str, object]) -> ExportedVariant:
    from edge_ai_ros.demo.export import export_onnx, write_manifest

    report = export_onnx(model, path, opset=opset, dynamic_batch=dynamic_batch)
    manifest = write_manifest(path, build=build)
    return ExportedVariant(onnx_path=path, manifest_path=manifest, max_abs_diff=report.max_abs_diff, qdq_nodes=0)


def export_qdq(model: nn.Module, path: Path, *, opset: int, dynamic_batch: bool,
               build: dict[str, object]) -> ExportedVariant:
    """Freeze the QAT model's scales and export it as a QDQ ONNX model (INT8 manifest)."""
    import onnx

    from edge_ai_ros.demo.export import INPUT_NAME, OUTPUT_NAME, check_frame, detector_manifest

    freeze_qat(model)
    model.eval()
    tensor = check_frame()
    with torch.no_grad():
        expected = model(torch.from_numpy(tensor)).numpy()
    axes = {INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}} if dynamic_batch else None
    with atomic_output_path(path) as tmp:
        torch.onnx.export(model, (torch.from_numpy(tensor),), str(tmp), input_names=[INPUT_NAME],
                          output_names=[OUTPUT_NAME], dynamic_axes=axes, opset_version=opset, dynamo=False)
        finalize_qdq(tmp)
        onnx.checker.check_model(str(tmp), full_check=True)
        diff = _score_diff(tmp, tensor, expected, INPUT_NAME)
        if not diff <= QDQ_MAX_SCORE_DIFF:
            raise CompileError(f"QDQ model scores differ from the fake-quantized torch model by {diff:.3g} "
                               f"(allowed {QDQ_MAX_SCORE_DIFF})", fix="check qat.activation against the runtime")
        nodes = count_qdq_nodes(tmp)
    manifest = detector_manifest(path, build=build).with_updates(precision="int8")
    manifest_path = save_manifest(manifest, manifest_path_for(path))
    return ExportedVariant(onnx_path=path, manifest_path=manifest_path, max_abs_diff=diff,
                           qdq_nodes=nodes["QuantizeLinear"] + nodes["DequantizeLinear"])


def _score_diff(path: Path, tensor: np.ndarray, expected: np.ndarray, input_name: str) -> float:
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    out = np.asarray(session.run(None, {input_name: tensor})[0])
    return float(np.max(np.abs(out[..., 4:] - expected[..., 4:])))
