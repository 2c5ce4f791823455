"""Latency of every variant, timed on each CPU backend, and the report row that holds it.

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
    metric: float | None  # the task's accuracy metric, a fraction (mAP@0.5, top-1, ...)
    metric_name: str = "mAP@0.5"
    latency_ms: dict[str, float] = field(default_factory=dict)
    latency_errors: dict[str, str] = field(default_factory=dict)
    onnx_path: str = ""
    notes: str = ""


def time_interleaved(models: dict[str, tuple[Path, str]], input_shape: tuple[int, ...], *,
                     config: LatencyConfig, rounds: int = 5) -> tuple[dict[str, dict[str, float]], dict[str, dict[str, str]]]:
    """Latency of every (variant, backend), timed round-robin so that load from other processes
    on a shared machine hits every variant alike. ``models``: name -> (onnx path, precision)."""
    from edge_ai_ros.engines.options import EngineOptions
    from edge_ai_ros.engines.registry import create_engine

    engines, errors = {}, {name: {} for name in models}  # type: ignore[var-annotated]
    for name, (path, precision) in models.items():
        for backend in config.backends:
            try:
                engines[(name, backend)] = create_engine(backend, path, EngineOptions(threads=config.threads),
                                                         precision=precision, reason="compression report")
            except EdgeAiError as err:
                errors[name][backend] = str(err)
    feed = np.random.default_rng(0).random(input_shape, dtype=np.float32)
    times: dict[tuple[str, str], list[float]] = {key: [] for key in engines}
    try:
        for engine in engines.values():
            for _ in range(config.warmup):
                engine.infer({engine.info.inputs[0].name: feed})
        per_round = max(1, config.runs // rounds)
        for _ in range(rounds):
            for key, engine in engines.items():
                feeds = {engine.info.inputs[0].name: feed}
                for _ in range(per_round):
                    start = time.perf_counter()
                    engine.infer(feeds)
                    times[key].append(time.perf_counter() - start)
    finally:
        for engine in engines.values():
            engine.close()
    latency = {name: {} for name in models}  # type: ignore[var-annotated]
    for (name, backend), values in times.items():
        latency[name][backend] = 1000.0 * statistics.median(values)
    return latency, errors
