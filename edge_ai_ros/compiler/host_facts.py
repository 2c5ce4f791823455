"""What a built engine needs from the CPU that serves it, for its manifest's ``host`` entry.

The compiler builds and gates every engine on this host, so the record names this host's
features; ``requires`` lists the capabilities (``edge_ai_ros.host.CAPABILITY_FLAGS``) without
which the artifact would run wrong or not at all: an INT8 model with full-range weights on x86
needs an INT8 dot product (VNNI/AMX), a BF16 or FP16 engine the matching float support.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edge_ai_ros.host import host_features, host_record
from edge_ai_ros.int8_format import (
    FULL_WEIGHT_QMAX,
    REDUCED_WEIGHT_QMAX,
    Int8Format,
    int8_format_for,
    required_capabilities,
)

FLOAT_REQUIREMENTS = {"bf16": ("bf16",), "fp16": ("fp16",)}


def build_int8_format(qdq_flavour: str) -> Int8Format:
    """The INT8 format a builder's PTQ gets on this host (its flavour names the target)."""
    return int8_format_for("tensorrt" if qdq_flavour == "tensorrt_s8s8" else "cpu")


def qdq_weight_format(path: Path) -> Int8Format:
    """The format of an already quantized (QAT) model, read from its int8 weights and activations."""
    import onnx
    from onnx import numpy_helper

    graph = onnx.load(str(path)).graph
    widest = max((int(abs(numpy_helper.to_array(init).astype("int16")).max()) for init in graph.initializer
                  if init.data_type == onnx.TensorProto.INT8 and init.dims), default=0)
    unsigned = any(init.data_type == onnx.TensorProto.UINT8 for init in graph.initializer)
    return Int8Format(activation="u8" if unsigned else "s8",
                      weight_qmax=REDUCED_WEIGHT_QMAX if widest <= REDUCED_WEIGHT_QMAX else FULL_WEIGHT_QMAX,
                      reason=f"read from the graph (widest int8 weight {widest})")


def engine_host_record(precision: str, device: str, fmt: Int8Format | None) -> dict[str, Any]:
    """The manifest's ``host`` entry for an engine built and gated here."""
    if not device.startswith("cpu"):
        return host_record(()) | {"device": device}
    requires: tuple[str, ...] = FLOAT_REQUIREMENTS.get(precision, ())
    if precision == "int8" and fmt is not None:
        requires = required_capabilities(fmt, host_features())
    record = host_record(requires)
    return record if fmt is None else record | {"int8_format": fmt.facts()}
