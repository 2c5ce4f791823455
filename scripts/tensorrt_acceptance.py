"""TensorRT acceptance on a machine with an NVIDIA GPU: build, replay, time, report (docs/tensorrt.md).

1. Build the demo detector with TensorRT as FP32, FP16 and INT8 (QDQ, calibrated on the demo bag),
   each through the accuracy gate against ONNX Runtime FP32.
2. Replay the demo bag through the inference node with the FP32 engine and record its outputs as
   the golden; replay it with the FP16 and INT8 engines and compare with that golden.
3. Time each engine alone (batch 1, after warm-up) and write everything to OUT/tensorrt_acceptance.json.

Exit status: 0 all passed, 1 a build or replay failed, 3 TensorRT cannot run here (the reason is
printed and written to the report).
Usage: python scripts/tensorrt_acceptance.py [--out DIR] [--iterations N]
(ROS_DOMAIN_ID and ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST as for every ROS process).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from edge_ai_ros.atomic_io import atomic_write_text
from edge_ai_ros.compiler.build import BuildOptions, build_engine
from edge_ai_ros.compiler.calibration_data import CalibrationConfig
from edge_ai_ros.engines.registry import load_engine
from edge_ai_ros.engines.tensorrt_runtime import tensorrt_usable
from edge_ai_ros.errors import EdgeAiError

ASSETS = Path(__file__).resolve().parents[1] / "edge_ai_ros" / "assets"
DETECTOR = ASSETS / "demo_detector" / "detector.onnx"
BAG = ASSETS / "demo_bag"
TOPIC = "/camera/image_raw"
PRECISIONS = ("fp32", "fp16", "int8")


def build(precision: str, out: Path) -> dict[str, Any]:
    started = time.monotonic()
    result = build_engine(BuildOptions(
        onnx_path=str(DETECTOR), precision=precision, backend="tensorrt", cache_dir=str(out / "cache"),
        calibration=CalibrationConfig(source=str(BAG), topic=TOPIC), out_dir=str(out / "engines" / precision)))
    return {"manifest": str(result.manifest_path), "engine": str(result.engine_path), "cache_hit": result.cache_hit,
            "build_s": round(time.monotonic() - started, 2), "device": result.manifest.device,
            "backend_version": result.manifest.backend_version, "gate": result.manifest.accuracy}


def replay(manifest: str, out: Path, golden: Path, *, record: bool) -> dict[str, Any]:
    from edge_ai_ros.replay.session import ReplayJob, run_replay

    result = run_replay(ReplayJob(bag=str(BAG), topic=TOPIC, manifest=manifest, out_dir=str(out), backend="tensorrt",
                                  golden=str(golden), record_golden=record))
    keys = ("verdict", "reason", "map50", "precision", "recall", "frames_answered", "frames_expected",
            "engine_fps", "pipeline_fps", "latency_ms", "report")
    return {k: v for k, v in result.to_dict().items() if k in keys}


def time_engine(engine_path: str, iterations: int) -> dict[str, float]:
    engine = load_engine(engine_path, backend="tensorrt")
    try:
        spec = engine.info.inputs[0]
        shape = tuple(d if isinstance(d, int) else 1 for d in spec.shape)
        feeds = {spec.name: np.random.default_rng(0).random(shape, dtype=np.float32)}
        for _ in range(20):
            engine.infer(feeds)
        times = []
        for _ in range(iterations):
            started = time.perf_counter()
            engine.infer(feeds)
            times.append(time.perf_counter() - started)
    finally:
        engine.close()
    ms = np.asarray(times) * 1000.0
    return {"p50_ms": round(float(np.percentile(ms, 50)), 3), "p90_ms": round(float(np.percentile(ms, 90)), 3),
            "iterations": float(iterations)}


def run(out: Path, iterations: int) -> tuple[int, dict[str, Any]]:
    report: dict[str, Any] = {"host": {"machine": platform.machine(), "python": platform.python_version(),
                                       "loadavg": os.getloadavg()}, "results": {}}
    usable, reason = tensorrt_usable()
    report["tensorrt_usable"], report["reason"] = usable, reason
    if not usable:
        return 3, report
    from edge_ai_ros.engines.cuda_memory import cuda_device_string
    from edge_ai_ros.engines.tensorrt_runtime import import_tensorrt

    report["host"] |= {"gpu": cuda_device_string(), "tensorrt": str(import_tensorrt().__version__)}
    golden = out / "golden" / "demo_bag.fp32.golden.json"
    status = 0
    for precision in PRECISIONS:
        entry: dict[str, Any] = {}
        report["results"][precision] = entry
        try:
            entry["build"] = build(precision, out)
            entry["replay"] = replay(entry["build"]["manifest"], out / "replay" / precision, golden,
                                     record=precision == "fp32")
            entry["timing"] = time_engine(entry["build"]["engine"], iterations)
        except EdgeAiError as err:
            entry["error"] = str(err)
            status = 1
            continue
        if entry["replay"]["verdict"] not in ("pass", "recorded"):
            status = 1
    return status, report


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--out", default="out/tensorrt_acceptance", help="output directory")
    parser.add_argument("--iterations", type=int, default=200, help="timed engine runs per precision")
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    status, report = run(out, args.iterations)
    report["exit_status"] = status
    atomic_write_text(out / "tensorrt_acceptance.json", json.dumps(report, indent=2, default=str) + "\n")
    print(json.dumps(report, indent=2, default=str))
    if status == 3:
        print(f"tensorrt_acceptance: TensorRT cannot run here: {report['reason']}", file=sys.stderr)
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
