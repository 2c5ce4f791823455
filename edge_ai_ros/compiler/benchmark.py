"""``edge-ai-ros bench``: PyTorch eager FP32 against every backend x precision available here.

For each model (the demo detector and the ResNet-18-sized classifier): p50/p99 latency at
batch 1 (every configuration and PyTorch timed interleaved, round by round, so a load change
on a shared CPU moves them alike and the ratios hold), throughput at batch 8, artifact size, and accuracy against FP32 (the accuracy
gate's numbers from each engine's manifest). Engines are built through the compiler (so
the cache and gate are exercised) and loaded through the engine registry, as the node does.
"""

from __future__ import annotations

import logging
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edge_ai_ros.atomic_io import atomic_write_text
from edge_ai_ros.benchmark_json import write_benchmark_json
from edge_ai_ros.stats import summarize

LOG = logging.getLogger(__name__)
CONFIGS: tuple[tuple[str, str], ...] = (
    ("auto", "int8"), ("onnxruntime", "fp32"), ("onnxruntime", "int8"), ("openvino", "fp32"), ("openvino", "bf16"),
    ("openvino", "int8"), ("tensorrt", "fp16"), ("tensorrt", "int8"),
)
DEFAULT_PATH = ("auto", "int8")  # what `edge-ai-ros compile model.onnx --calib X` builds, served with auto


@dataclass(frozen=True, kw_only=True)
class Row:
    model: str
    runtime: str
    precision: str
    p50_ms: float
    p99_ms: float
    batch8_fps: float
    size_mb: float
    accuracy: str
    relative_error: float
    speedup_vs_torch: float = 0.0
    default: bool = False
    note: str = ""


def time_calls(call: Callable[[], object], iterations: int, warmup: int) -> list[float]:
    for _ in range(warmup):
        call()
    samples = []
    for _ in range(iterations):
        start = time.perf_counter()
        call()
        samples.append(time.perf_counter() - start)
    return samples


def _stats(samples: Sequence[float]) -> tuple[float, float]:
    """p50 and p99 in ms, from the shared summary (edge_ai_ros.stats)."""
    summary = summarize(samples, scale=1e3)
    return summary.p50, summary.p99


def interleaved(calls: dict[str, Callable[[], object]], iterations: int, warmup: int) -> dict[str, list[float]]:
    """Time every call once per round, round after round: load on a shared CPU hits all alike."""
    for call in calls.values():
        for _ in range(warmup):
            call()
    samples: dict[str, list[float]] = {label: [] for label in calls}
    for _ in range(iterations):
        for label, call in calls.items():
            start = time.perf_counter()
            call()
            samples[label].append(time.perf_counter() - start)
    return samples


def torch_row(name: str, model: Any, size: int, iterations: int) -> tuple[Row, Callable[[], object]]:
    """PyTorch eager's row (batch-8 throughput filled in) and its batch-1 call, timed with the engines."""
    import torch

    one, eight = torch.rand(1, 3, size, size), torch.rand(8, 3, size, size)

    def run_one() -> object:
        with torch.inference_mode():
            return model(one)

    with torch.inference_mode():
        fps = 8 / float(np.median(time_calls(lambda: model(eight), max(3, iterations // 4), 1)))
    params = sum(p.numel() * p.element_size() for p in model.parameters())
    return Row(model=name, runtime="pytorch eager", precision="fp32", p50_ms=0.0, p99_ms=0.0, batch8_fps=fps,
               size_mb=params / 1e6, accuracy="reference", relative_error=0.0), run_one


def engine_row(name: str, onnx_path: Path, calib: Path, backend: str, precision: str, cache: Path,
               iterations: int) -> tuple[Row, Any]:
    """Build (or fetch) and load one configuration; its row with batch-8 throughput, and the engine."""
    from edge_ai_ros.compiler.build import BuildOptions, build_engine
    from edge_ai_ros.compiler.calibration_data import CalibrationConfig
    from edge_ai_ros.engines.registry import load_engine

    result = build_engine(BuildOptions(onnx_path=str(onnx_path), precision=precision, backend=backend,
                                       calibration=CalibrationConfig(source=str(calib), max_samples=16),
                                       max_drop=100.0, cache_dir=str(cache)))
    # the default path is served as the node serves it: backend auto (measured when compiled)
    engine = load_engine(result.engine_path, backend="auto" if backend == "auto" else result.manifest.backend)
    runtime = f"auto: {engine.info.backend}" if backend == "auto" else backend
    spec = result.manifest.inputs[0]
    shape = [d if isinstance(d, int) else 1 for d in spec.shape]
    eight = {spec.name: np.random.default_rng(1).random([8, *shape[1:]], dtype=np.float32)}
    fps = 8 / float(np.median(time_calls(lambda: engine.infer(eight), max(3, iterations // 4), 1)))
    acc = result.manifest.accuracy or {}
    size = sum(p.stat().st_size for p in result.engine_path.parent.glob(f"{result.engine_path.stem}.*")
               if not p.name.endswith(".json"))
    return Row(model=name, runtime=runtime, precision=precision, p50_ms=0.0, p99_ms=0.0, batch8_fps=fps,
               size_mb=size / 1e6, accuracy=f"{acc.get('metric', '?')} {acc.get('candidate', float('nan')):.1f}",
               relative_error=float(acc.get("relative_error", float("nan"))),
               default=(backend, precision) == DEFAULT_PATH), engine


def _infer_call(engine: Any, feeds: dict[str, np.ndarray]) -> Callable[[], object]:
    def call() -> object:
        return engine.infer(feeds)

    return call


def bench_model(name: str, torch_model: Any, onnx_path: Path, calib: Path, size: int, cache: Path,
                iterations: int) -> list[Row]:
    """Every configuration's row; batch-1 latency of all of them (PyTorch included) timed interleaved."""
    from edge_ai_ros.compiler.backend_builders import choose_builder
    from edge_ai_ros.errors import EdgeAiError

    base_row, torch_call = torch_row(name, torch_model, size, iterations)
    rows, calls, engines = [base_row], {0: torch_call}, []
    one = {"images": np.random.default_rng(0).random((1, 3, size, size), dtype=np.float32)}
    try:
        for backend, precision in CONFIGS:
            try:
                choose_builder(backend, precision)
            except EdgeAiError as err:
                LOG.info("skipping %s %s: %s", backend, precision, err)
                continue
            LOG.info("building and loading %s %s %s", name, backend, precision)
            row, engine = engine_row(name, onnx_path, calib, backend, precision, cache, iterations)
            engines.append(engine)
            feeds = {engine.info.inputs[0].name: one["images"]}
            calls[len(rows)] = _infer_call(engine, feeds)
            rows.append(row)
        LOG.info("timing %d configurations of %s interleaved, %d rounds", len(rows), name, iterations)
        samples = interleaved({str(k): v for k, v in calls.items()}, iterations, warmup=5)
    finally:
        for engine in engines:
            engine.close()
    timed = [Row(**{**asdict(r), "p50_ms": _stats(samples[str(i)])[0], "p99_ms": _stats(samples[str(i)])[1]})
             for i, r in enumerate(rows)]
    return [Row(**{**asdict(r), "speedup_vs_torch": timed[0].p50_ms / r.p50_ms}) for r in timed]


def summary(rows: Sequence[Row]) -> dict[str, Any]:
    """Per model: the default path's speed-up over PyTorch and its ratio to the fastest engine."""
    out: dict[str, Any] = {}
    for model in dict.fromkeys(r.model for r in rows):
        mine = [r for r in rows if r.model == model]
        default = next((r for r in mine if r.default), None)
        fastest = min((r for r in mine if r.runtime != "pytorch eager" and not r.default), key=lambda r: r.p50_ms)
        if default is not None:
            out[model] = {"default": f"{default.runtime} {default.precision}", "speedup_vs_torch": default.speedup_vs_torch,
                          "fastest": f"{fastest.runtime} {fastest.precision}",
                          "ratio_to_fastest": default.p50_ms / fastest.p50_ms,
                          "meets_10x": default.speedup_vs_torch >= 10.0,
                          "within_1_1x_of_fastest": default.p50_ms <= 1.1 * fastest.p50_ms}
    return out


def markdown(rows: Sequence[Row], facts: dict[str, Any]) -> str:
    lines = ["| model | runtime | precision | p50 ms (b1) | p99 ms (b1) | img/s (b8) | size MB | accuracy vs FP32 "
             "| rel. error | x PyTorch |", "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        mark = " **(default)**" if r.default else ""
        lines.append(f"| {r.model} | {r.runtime}{mark} | {r.precision} | {r.p50_ms:.2f} | {r.p99_ms:.2f} | "
                     f"{r.batch8_fps:.0f} | {r.size_mb:.1f} | {r.accuracy} | {r.relative_error:.2g} | "
                     f"{r.speedup_vs_torch:.1f} |")
    lines.append("")
    for model, s in facts.items():
        lines.append(f"- {model}: default path {s['default']} is {s['speedup_vs_torch']:.1f}x PyTorch eager FP32 "
                     f"(target 10x: {'met' if s['meets_10x'] else 'NOT met'}); fastest is {s['fastest']}, "
                     f"default/fastest = {s['ratio_to_fastest']:.2f} (target <= 1.1: "
                     f"{'met' if s['within_1_1x_of_fastest'] else 'NOT met'})")
    return "\n".join(lines) + "\n"


def write_reports(rows: Sequence[Row], out_dir: Path, meta: dict[str, Any]) -> tuple[Path, Path]:
    facts = summary(rows)
    data = {"meta": meta, "rows": [asdict(r) for r in rows], "summary": facts}
    json_path = write_benchmark_json(out_dir / "bench.json", data)
    md_path = atomic_write_text(out_dir / "bench.md", markdown(rows, facts))
    return json_path, md_path


def scratch_dir() -> tempfile.TemporaryDirectory[str]:
    return tempfile.TemporaryDirectory(prefix="edge-ai-bench-")
