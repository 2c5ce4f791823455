"""Bring a model to an opset that can hold its Q/DQ nodes before it is quantized.

Per-channel ``DequantizeLinear`` needs its ``axis`` attribute, which exists from opset 13 on.
A model exported at opset 11 or 12 (common for older exports) would come out of quantization as
an invalid graph that the onnx checker, ONNX Runtime, OpenVINO and TensorRT all reject. Such a
model is converted with onnx's version converter first; models at 13 or later are left alone.
"""

from __future__ import annotations

import logging
from pathlib import Path

import onnx

from edge_ai_ros.atomic_io import atomic_output_path
from edge_ai_ros.errors import CompileError

LOG = logging.getLogger(__name__)
QDQ_MIN_OPSET = 13  # DequantizeLinear's axis (per-channel weights)


def default_opset(model: onnx.ModelProto) -> int:
    """The model's ai.onnx opset version (the default domain)."""
    for entry in model.opset_import:
        if entry.domain in ("", "ai.onnx"):
            return int(entry.version)
    raise CompileError("the model imports no ai.onnx opset", fix="export it with a standard ONNX opset")


def qdq_target_opset(opset: int) -> int | None:
    """The opset to convert to before quantizing, or None when ``opset`` can already hold Q/DQ."""
    return QDQ_MIN_OPSET if opset < QDQ_MIN_OPSET else None


def ensure_qdq_opset(model_path: Path, work_dir: Path) -> Path:
    """``model_path`` itself, or a copy converted to opset 13 in ``work_dir`` when it is older."""
    model = onnx.load(str(model_path))
    opset = default_opset(model)
    target = qdq_target_opset(opset)
    if target is None:
        return model_path
    LOG.info("%s is opset %d: converting it to opset %d before quantizing", model_path.name, opset, target)
    try:
        converted = onnx.version_converter.convert_version(model, target)
        onnx.checker.check_model(converted)
    except (RuntimeError, ValueError, onnx.checker.ValidationError) as err:
        raise CompileError(f"{model_path.name} is opset {opset}, which cannot hold per-channel Q/DQ, and "
                           f"converting it to opset {target} failed: {err}",
                           fix=f"export the model at opset {target} or later") from err
    out = work_dir / f"{model_path.stem}.opset{target}.onnx"
    with atomic_output_path(out) as tmp:
        onnx.save(converted, str(tmp))
    return out
