"""Latency of one manifest's pipeline on each CPU backend: per-stage summaries, a table and JSON.

    python -m edge_ai_ros.benchmarks.pipeline --manifest M.manifest.json --runs 50 --json out.json

Frames are 640x480 generated road scenes (edge_ai_ros.demo.scene, no torch). The inference
column is the engine's own latency; preprocess is also timed for both resample settings so the
cost of the manifest's choice is visible. A benchmark, not a test: it asserts nothing.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from edge_ai_ros.benchmark_json import write_benchmark_json
from edge_ai_ros.engines.options import EngineOptions
from edge_ai_ros.engines.registry import available_backends
from edge_ai_ros.manifest import PreprocessSpec, load_manifest
from edge_ai_ros.pipeline import Perception
from edge_ai_ros.preprocess import preprocess
from edge_ai_ros.stats import summarize

STAGES = ("preprocess", "inference", "postprocess", "total")


@dataclass(frozen=True, kw_only=True)
class BenchConfig:
    manifest: Path
    backends: tuple[str, ...]
    runs: int = 50
    warmup: int = 5
    threads: int = 0
    frames: int = 8  # distinct frames cycled through


def _frames(count: int) -> list[np.ndarray]:
    from edge_ai_ros.demo.scene import scene_at

    return [scene_at("eval", 0, i).image for i in range(count)]


def _stats(seconds: Sequence[float]) -> dict[str, float]:
    """The shared summary (edge_ai_ros.stats) in milliseconds."""
    return summarize(seconds, scale=1e3).to_dict()


def bench_backend(config: BenchConfig, backend: str, frames: list[np.ndarray]) -> dict[str, object]:
    """Per-stage latency of Perception.run on ``backend``."""
    with Perception(config.manifest, backend=backend, options=EngineOptions(threads=config.threads)) as perception:
        perception.warmup(config.warmup)
        samples: dict[str, list[float]] = {stage: [] for stage in STAGES}
        for i in range(config.runs):
            timings = perception.run(frames[i % len(frames)]).timings
            for stage, value in zip(STAGES, (timings.preprocess_s, timings.inference_s,
                                              timings.postprocess_s, timings.total_s), strict=True):
                samples[stage].append(value)
        info = perception.engine_info
    return {"backend": backend, "backend_version": info.backend_version, "precision": info.precision,
            "device": info.device, "details": dict(info.details),
            "stages_ms": {stage: _stats(values) for stage, values in samples.items()}}


def bench_preprocess(config: BenchConfig, frames: list[np.ndarray]) -> dict[str, dict[str, float]]:
    """preprocess() alone, with the manifest's resample setting and with each alternative."""
    spec = load_manifest(config.manifest).preprocess
    out = {}
    for resample in ("bilinear", "fast"):
        variant = replace(spec, resample=resample)

        def one(i: int, variant: PreprocessSpec = variant) -> object:
            return preprocess(frames[i % len(frames)], variant)

        out[resample] = _stats(_timed(one, config.runs))
    return out


def _timed(call: Callable[[int], object], runs: int) -> list[float]:
    call(0)
    seconds = []
    for i in range(runs):
        start = time.perf_counter()
        call(i)
        seconds.append(time.perf_counter() - start)
    return seconds


def print_table(report: dict[str, object]) -> None:
    print(f"{'backend':<12} {'precision':<9} " + " ".join(f"{s + ' p50':>16}" for s in STAGES) + "  (ms)")
    for row in report["backends"]:  # type: ignore[attr-defined]
        cells = " ".join(f"{row['stages_ms'][s]['p50']:>16.3f}" for s in STAGES)
        print(f"{row['backend']:<12} {row['precision']:<9} {cells}")
    for resample, stats in report["preprocess_only_ms"].items():  # type: ignore[attr-defined]
        print(f"preprocess only, resample={resample}: p50 {stats['p50']:.3f} ms, p90 {stats['p90']:.3f} ms")


def run(config: BenchConfig) -> dict[str, object]:
    frames = _frames(config.frames)
    return {
        "manifest": str(config.manifest), "runs": config.runs, "warmup": config.warmup,
        "threads": config.threads or "all", "frame": "640x480 generated road scene",
        "backends": [bench_backend(config, b, frames) for b in config.backends],
        "preprocess_only_ms": bench_preprocess(config, frames),
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--manifest", type=Path, required=True, help="the model's *.manifest.json")
    parser.add_argument("--backends", default=",".join(b for b in available_backends() if b != "tensorrt"),
                        help="comma-separated backends (default: every installed CPU backend)")
    parser.add_argument("--runs", type=int, default=50, help="timed frames per backend")
    parser.add_argument("--warmup", type=int, default=5, help="untimed frames first")
    parser.add_argument("--threads", type=int, default=0, help="engine threads; 0 = all cores")
    parser.add_argument("--json", type=Path, help="write the report here as JSON")
    args = parser.parse_args(argv)
    config = BenchConfig(manifest=args.manifest, backends=tuple(b for b in args.backends.split(",") if b),
                         runs=args.runs, warmup=args.warmup, threads=args.threads)
    report = run(config)
    print_table(report)
    if args.json:
        write_benchmark_json(args.json, report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
