"""Calibrated INT8: write a QDQ ONNX model with ONNX Runtime's quantization tooling.

Why ONNX Runtime's tooling rather than NVIDIA ModelOpt: it installs from PyPI next to the
runtime we already ship, runs on any CPU (so every INT8 step is built and tested on the
CI machines that have no GPU), offers minmax / entropy / percentile calibration and
per-channel weights, and its QDQ output is the explicit-quantization input TensorRT 10/11
documents. ModelOpt adds torch-side tooling that is GPU-oriented and not needed here.

The QDQ flavour depends on the target: TensorRT wants symmetric signed INT8 (s8/s8, zero
points 0, bias left in float); ONNX Runtime and OpenVINO on x86 want unsigned activations
with signed weights (u8/s8), which is what their VNNI/AMX kernels run fast. ``reduce_range``
(7-bit weights) comes from ``edge_ai_ros.int8_format``: set on x86 CPUs without VNNI/AMX,
whose u8 x s8 kernels saturate with full-range weights.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edge_ai_ros.compiler.calibrate.opset import ensure_qdq_opset
from edge_ai_ros.errors import CompileError, ConfigError

FLAVOURS = ("tensorrt_s8s8", "cpu_u8s8")


@dataclass(frozen=True, kw_only=True)
class QdqOptions:
    """How to quantize: calibration method and QDQ flavour; the facts go into the cache key."""

    method: str = "minmax"  # minmax | entropy | percentile
    percentile: float = 99.999
    flavour: str = "cpu_u8s8"
    per_channel: bool = True
    nodes_to_exclude: tuple[str, ...] = field(default_factory=tuple)
    reduce_range: bool = False  # 7-bit weights; int8_format_for(target).reduce_range

    def __post_init__(self) -> None:
        if self.flavour not in FLAVOURS:
            raise ConfigError("qdq.flavour", f"{self.flavour!r} is not one of {FLAVOURS}", fix="pick one")
        if self.method not in ("minmax", "entropy", "percentile"):
            raise ConfigError("calib_method", f"{self.method!r} is unknown", fix="minmax, entropy or percentile")

    def facts(self) -> dict[str, Any]:
        facts: dict[str, Any] = {"method": self.method, "flavour": self.flavour, "per_channel": self.per_channel,
                                 "nodes_kept_fp32": sorted(self.nodes_to_exclude), "reduce_range": self.reduce_range}
        if self.method == "percentile":
            facts["percentile"] = self.percentile
        return facts


class _TensorReader:
    """ONNX Runtime's CalibrationDataReader protocol over preprocessed tensors."""

    def __init__(self, input_name: str, tensors: Sequence[np.ndarray]) -> None:
        self._input_name = input_name
        self._tensors = tensors
        self._iter: Iterator[np.ndarray] = iter(tensors)

    def get_next(self) -> dict[str, np.ndarray] | None:
        tensor = next(self._iter, None)
        return None if tensor is None else {self._input_name: tensor}

    def rewind(self) -> None:
        self._iter = iter(self._tensors)


def quantize_to_qdq(
    model_path: Path, output_path: Path, input_name: str, tensors: Sequence[np.ndarray], options: QdqOptions,
) -> Path:
    """Calibrate ``model_path`` on ``tensors`` and write the QDQ model to ``output_path``."""
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static

    from edge_ai_ros.compiler.calibrate.prepare_graph import prepare_for_quantization

    if not tensors:
        raise CompileError("no calibration tensors", fix="pass a calibration source with frames")
    model_path = ensure_qdq_opset(model_path, output_path.parent)  # Q/DQ axis needs opset 13+
    methods = {"minmax": CalibrationMethod.MinMax, "entropy": CalibrationMethod.Entropy,
               "percentile": CalibrationMethod.Percentile}
    s8s8 = options.flavour == "tensorrt_s8s8"
    extra: dict[str, Any] = {"ActivationSymmetric": s8s8, "WeightSymmetric": True,
                             "CalibTensorRangeSymmetric": s8s8}
    if s8s8:
        extra["QuantizeBias"] = False  # TensorRT fuses float bias itself
    if options.method == "percentile":
        extra["CalibPercentile"] = options.percentile
    prepared = prepare_for_quantization(model_path, output_path.with_name(f"{output_path.stem}.prepared.onnx"))
    try:
        quantize_static(
            str(prepared), str(output_path), _TensorReader(input_name, tensors),
            quant_format=QuantFormat.QDQ, per_channel=options.per_channel, reduce_range=options.reduce_range,
            activation_type=QuantType.QInt8 if s8s8 else QuantType.QUInt8, weight_type=QuantType.QInt8,
            nodes_to_exclude=list(options.nodes_to_exclude), calibrate_method=methods[options.method],
            extra_options=extra,
        )
    except (RuntimeError, ValueError, KeyError) as err:
        raise CompileError(f"INT8 quantization of {model_path.name} failed: {err}",
                           fix="check the model runs in ONNX Runtime FP32 first") from err
    return output_path
