"""ONNX checks and rewrites before TensorRT parses a model (onnx and ONNX Runtime's tooling, no TensorRT).

- ``asymmetric_quantizers``: TensorRT runs symmetric signed INT8 only; a QAT model with uint8 or
  non-zero zero points is refused up front, naming the nodes, instead of failing in the parser.
- ``write_fp16_onnx``: TensorRT 11 networks are strongly typed (no FP16 builder flag), so an FP16
  engine needs FP16 tensors in the ONNX; inputs and outputs stay FP32 so callers do not change.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import numpy_helper

from edge_ai_ros.atomic_io import atomic_output_path
from edge_ai_ros.errors import CompileError

QUANTIZERS = ("QuantizeLinear", "DequantizeLinear")


def asymmetric_quantizers(model: onnx.ModelProto) -> list[str]:
    """Names of Q/DQ nodes whose zero point is unsigned or not zero."""
    constants = {t.name: t for t in model.graph.initializer}
    for node in model.graph.node:
        if node.op_type == "Constant" and node.attribute:
            constants[node.output[0]] = node.attribute[0].t
    bad = []
    for node in model.graph.node:
        if node.op_type not in QUANTIZERS or len(node.input) < 3 or not node.input[2]:
            continue
        zero = constants.get(node.input[2])
        if zero is None:
            continue
        values = numpy_helper.to_array(zero)
        if values.dtype == np.uint8 or np.any(values != 0):
            bad.append(node.name or node.output[0])
    return bad


def check_symmetric_int8(onnx_path: Path) -> None:
    """Raise CompileError if ``onnx_path`` holds asymmetric (u8 or non-zero zero point) Q/DQ nodes."""
    bad = asymmetric_quantizers(onnx.load(str(onnx_path), load_external_data=False))
    if bad:
        shown = ", ".join(bad[:5]) + (f" and {len(bad) - 5} more" if len(bad) > 5 else "")
        raise CompileError(f"{onnx_path.name} is quantized asymmetrically (uint8 or non-zero zero points at "
                           f"{shown}); TensorRT runs symmetric signed INT8 only",
                           fix="re-export the QAT model with symmetric int8 quantizers (zero point 0), "
                               "or compile it for onnxruntime/openvino")


def write_fp16_onnx(src: Path, dst: Path) -> Path:
    """``src`` with FP16 weights and activations, inputs and outputs kept FP32, topologically sorted."""
    from onnxruntime.transformers.float16 import convert_float_to_float16
    from onnxruntime.transformers.onnx_model import OnnxModel

    try:
        converted = OnnxModel(convert_float_to_float16(onnx.load(str(src)), keep_io_types=True))
        converted.topological_sort()
        onnx.checker.check_model(converted.model)
    except (ValueError, onnx.checker.ValidationError) as err:
        raise CompileError(f"could not convert {src.name} to FP16: {err}",
                           fix="export the model in FP16 yourself, or build fp32/int8") from err
    with atomic_output_path(dst) as tmp:
        onnx.save(converted.model, str(tmp))
    return dst
