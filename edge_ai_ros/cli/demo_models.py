"""Compile the shipped compressed demo detector for ``edge-ai-ros demo`` (cached).

The shipped QAT model (``assets/demo_detector_int8/``) goes through the compiler like any
INT8 engine: kept INT8 (its Q/DQ scales are the trained ones, no second calibration), the
accuracy gate run on held-out frames of the demo bag against the FP32 model it was quantized
from (``BuildOptions.reference_onnx``), the result cached under its content key, so a second
run loads it without building.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edge_ai_ros.demo.compressed import INT8_MANIFEST, INT8_ONNX, INT8_REFERENCE, first_image_topic, int8_shipped
from edge_ai_ros.errors import ConfigError

if TYPE_CHECKING:
    from edge_ai_ros.compiler.build import BuildOptions, BuildResult

DEFAULT_MAX_DROP = 15.0  # gate points: QAT fine-tunes the weights, so it need not agree box for box
GATE_SAMPLES = 75  # bag frames for the compiler; every 4th further frame is held out for the gate


@dataclass(frozen=True, kw_only=True)
class CompiledModel:
    """The INT8 engine the node serves, as the compiler handed it over."""

    manifest: Path
    backend: str  # the artifact's backend (the node may serve it on another runtime that reads it)
    cache_hit: bool
    cache_key: str
    gate: Mapping[str, Any] | None
    size_bytes: int

    def describe(self) -> str:
        how = "cache hit, loaded without building" if self.cache_hit else "built and cached"
        gate = ""
        if self.gate:
            gate = (f"; accuracy gate vs the FP32 model it was quantized from: {self.gate['metric']} agreement "
                    f"{self.gate['candidate']:.1f} (drop {self.gate['drop']:.1f}, allowed {self.gate['max_drop']:.1f}) "
                    f"on {self.gate['samples']} held-out bag frames")
        return f"INT8 engine {self.manifest.name} ({self.backend}, key {self.cache_key[:12]}): {how}{gate}"


def compile_int8(*, bag: str | Path, backend: str, cache_dir: str | Path,
                 max_drop: float = DEFAULT_MAX_DROP) -> CompiledModel:
    """Compile the shipped QAT model (kept INT8) with the bag's frames for the gate; cached."""
    from edge_ai_ros.compiler.build import BuildOptions
    from edge_ai_ros.compiler.calibration_data import CalibrationConfig

    if not int8_shipped():
        raise ConfigError("model", f"no compressed demo detector in {INT8_MANIFEST.parent}",
                          fix="serve --model fp32, or ship one with scripts/ship_compressed_demo.py")
    calibration = CalibrationConfig(source=str(bag), topic=first_image_topic(bag), max_samples=GATE_SAMPLES)
    options = BuildOptions(
        onnx_path=str(INT8_ONNX), precision="int8", backend=backend or "auto", calibration=calibration,
        max_drop=max_drop, cache_dir=str(cache_dir), reference_onnx=str(INT8_REFERENCE))
    result = _builder_for(options)(options)
    if result.manifest.precision != "int8":
        raise ConfigError("model", f"the compiler built {result.manifest.precision}, not int8",
                          fix="re-ship the QAT variant (its ONNX must hold QuantizeLinear/DequantizeLinear)")
    return CompiledModel(manifest=Path(result.manifest_path), backend=result.manifest.backend,
                         cache_hit=result.cache_hit, cache_key=result.cache_key, gate=result.manifest.accuracy,
                         size_bytes=result.manifest.artifact.size_bytes)


def _builder_for(options: BuildOptions) -> Callable[[BuildOptions], BuildResult]:
    """On CPUs ``auto`` builds every CPU backend and keeps the fastest (build_engine). Where auto
    means TensorRT, which refuses u8 (asymmetric) QAT models, the next backend builds it (fallback)."""
    from edge_ai_ros.compiler.backend_builders import choose_builder
    from edge_ai_ros.compiler.build import build_engine
    from edge_ai_ros.compiler.fallback import build_with_fallback

    if options.backend == "auto" and choose_builder("auto", "int8", options.tensorrt).name == "tensorrt":
        return build_with_fallback
    return build_engine
