"""Measure one variant: size from the model and file, latency timed on each CPU backend.

Latency is the median wall time of ``engine.infer`` at batch 1 after warm-up, through the
same engines the node uses (``engines.registry.create_engine``), so a report's speed-up is
what the node will see. OpenVINO runs FP32 models with the f32 precision hint (its default
on AMX CPUs is bf16, which would flatter FP32 variants).
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edge_ai_ros.compression.model_stats import FileStats, ModelStats
from edge_ai_ros.errors import EdgeAiError


@dataclass(frozen=True, kw_only=True)
class LatencyConfig:
    backends: tuple[str, ...] = ("onnxruntime", "openvino")
    runs: int = 30
    warmup: int = 5
    threads: int = 2


@dataclass(frozen=True, kw_only=True)
class VariantMeasurement:
    """One row of the report."""

    name: str
    step: str  # the step kind that made it ("baseline" for the start)
    source: str  # the variant it was made from
    precision: str
    params: int
    macs: int
    sparsity: float
    file_bytes: int
    compressed_bytes: int
    map50: float | None
    latency_ms: dict[str, float] = field(default_factory=dict)
    latency_errors: dict[str, str] = field(default_factory=dict)
    onnx_path: str = ""
    notes: str = ""


def time_backend(onnx_path: Path, backend: str, input_shape: tuple[int, ...], *, precision: str,
                 config: LatencyConfig) -> float:
    """Median milliseconds of one batch-1 inference of ``onnx_path`` on ``backend``."""
    from edge_ai_ros.engines.options import EngineOptions
    from edge_ai_ros.engines.registry import create_engine

    engine = create_engine(backend, onnx_path, EngineOptions(threads=config.threads), precision=precision,
                           reason="compression report")
    try:
        name = engine.info.inputs[0].name
        feed = {name: np.random.default_rng(0).random(input_shape, dtype=np.float32)}
        for _ in range(config.warmup):
            engine.infer(feed)
        times = []
        for _ in range(config.runs):
            start = time.perf_counter()
            engine.infer(feed)
            times.append(time.perf_counter() - start)
    finally:
        engine.close()
    return 1000.0 * statistics.median(times)


def time_backends(onnx_path: Path, input_shape: tuple[int, ...], *, precision: str,
                  config: LatencyConfig) -> tuple[dict[str, float], dict[str, str]]:
    """Latency per backend; a backend that cannot run the model is reported, not fatal."""
    latency: dict[str, float] = {}
    errors: dict[str, str] = {}
    for backend in config.backends:
        try:
            latency[backend] = time_backend(onnx_path, backend, input_shape, precision=precision, config=config)
        except EdgeAiError as err:
            errors[backend] = str(err)
    return latency, errors


def measure_variant(*, name: str, step: str, source: str, precision: str, stats: ModelStats, files: FileStats,
                    onnx_path: Path, input_shape: tuple[int, ...], map50: float | None,
                    config: LatencyConfig, notes: str = "") -> VariantMeasurement:
    latency, errors = time_backends(onnx_path, input_shape, precision=precision, config=config)
    return VariantMeasurement(
        name=name, step=step, source=source, precision=precision, params=stats.params, macs=stats.macs,
        sparsity=stats.sparsity, file_bytes=files.bytes, compressed_bytes=files.compressed_bytes, map50=map50,
        latency_ms=latency, latency_errors=errors, onnx_path=str(onnx_path), notes=notes,
    )
