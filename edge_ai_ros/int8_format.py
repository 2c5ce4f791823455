"""The INT8 format each target gets, chosen from its CPU features in one place.

QAT (``compression.qat``) and PTQ (``compiler.calibrate.quantize_qdq``) both ask
``int8_format_for``; docs/hosts.md has the table and the reasons. In short:

- TensorRT: s8 activations and s8 weights, symmetric (its explicit-quantization input).
- CPU runtimes on x86 with an INT8 dot product (AVX512-VNNI, AVX-VNNI, AMX): u8 activations,
  s8 per-channel weights over the full [-127, 127].
- CPU runtimes on x86 without one (AVX2 or AVX-512 without VNNI): the u8 x s8 kernels multiply
  with ``vpmaddubsw``, which adds two u8*s8 products into a *saturating* int16. 255 * 127 * 2
  = 64770 does not fit, so outputs go wrong by whole steps (0.36 of a detector score measured on
  an AVX2-only host). Weights in [-64, 64] ("reduce_range", 7 bits) keep the pair below
  255 * 64 * 2 = 32640 < 32767: exact on every x86 kernel, at one bit of weight precision.
- Arm (NEON widening multiplies, SDOT): no int16 saturation; the full range.

A format with full-range weights therefore *requires* the ``int8_dot`` capability on x86:
``required_capabilities`` says so, and manifests record it (``host.host_record``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from edge_ai_ros.errors import ConfigError
from edge_ai_ros.host import CpuFeatures, host_features

TARGETS = ("onnxruntime", "openvino", "tensorrt", "cpu")
FULL_WEIGHT_QMAX = 127
REDUCED_WEIGHT_QMAX = 64  # ONNX Runtime's reduce_range range for int8 weights


@dataclass(frozen=True, kw_only=True)
class Int8Format:
    activation: str  # "u8" (asymmetric) or "s8" (symmetric)
    weight_qmax: int  # weights are symmetric s8 in [-weight_qmax, weight_qmax]
    reason: str

    def __post_init__(self) -> None:
        if self.activation not in ("u8", "s8"):
            raise ConfigError("int8.activation", f"must be 'u8' or 's8', got {self.activation!r}", fix="pick one")
        if self.weight_qmax not in (FULL_WEIGHT_QMAX, REDUCED_WEIGHT_QMAX):
            raise ConfigError("int8.weight_qmax", f"must be {FULL_WEIGHT_QMAX} or {REDUCED_WEIGHT_QMAX}, "
                              f"got {self.weight_qmax}", fix="use reduce_range for 7-bit weights")

    @property
    def reduce_range(self) -> bool:
        return self.weight_qmax == REDUCED_WEIGHT_QMAX

    def facts(self) -> dict[str, Any]:
        return {"activation": self.activation, "weights": "s8", "weight_qmax": self.weight_qmax,
                "reduce_range": self.reduce_range}


def int8_format_for(target: str, features: CpuFeatures | None = None) -> Int8Format:
    """The INT8 format ``target`` should get on a CPU with ``features`` (default: this host)."""
    if target not in TARGETS:
        raise ConfigError("int8.target", f"{target!r} is not one of {TARGETS}", fix="pick one")
    if target == "tensorrt":
        return Int8Format(activation="s8", weight_qmax=FULL_WEIGHT_QMAX,
                          reason="TensorRT runs symmetric s8/s8 explicit quantization")
    features = features or host_features()
    if not features.is_x86:
        return Int8Format(activation="u8", weight_qmax=FULL_WEIGHT_QMAX,
                          reason=f"{features.machine}: INT8 kernels widen without int16 saturation")
    if features.int8_dot:
        return Int8Format(activation="u8", weight_qmax=FULL_WEIGHT_QMAX,
                          reason="x86 with an INT8 dot product (VNNI/AMX): u8 x s8 sums in int32")
    return Int8Format(activation="u8", weight_qmax=REDUCED_WEIGHT_QMAX,
                      reason="x86 without VNNI/AMX: 7-bit weights keep vpmaddubsw's int16 pair sums from saturating")


def required_capabilities(fmt: Int8Format, features: CpuFeatures | None = None) -> tuple[str, ...]:
    """Capabilities a host needs to run ``fmt`` exactly: full-range u8 x s8 on x86 needs int8_dot."""
    features = features or host_features()
    if features.is_x86 and fmt.activation == "u8" and not fmt.reduce_range:
        return ("int8_dot",)
    return ()
