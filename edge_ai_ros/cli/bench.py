"""``edge-ai-ros bench``: PyTorch eager FP32 vs every backend x precision here, table + JSON + markdown."""

from __future__ import annotations

import argparse
import logging
import platform
from pathlib import Path
from typing import Any

from PIL import Image


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", default="out/bench", help="folder for bench.json and bench.md")
    parser.add_argument("--cache-dir", default=".cache/engines", help="engine cache (reused across runs)")
    parser.add_argument("--iterations", type=int, default=40, help="timed batch-1 runs per configuration")
    parser.add_argument("--quick", action="store_true", help="CI mode: few iterations, classifier at 112 px")
    parser.add_argument("--models", default="detector,classifier", help="comma-separated subset")


def _calibration_folder(folder: Path, count: int = 24) -> Path:
    from edge_ai_ros.demo.scene import scene_at

    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        Image.fromarray(scene_at("calibration", 0, i).image).save(folder / f"{i:03d}.jpg", quality=92)
    return folder


def _detector(work: Path) -> tuple[Any, Path, int]:
    """The shipped demo detector (weights + ONNX) when present, else a seeded untrained one."""
    import torch

    from edge_ai_ros.demo.export import export_onnx, write_manifest
    from edge_ai_ros.models.detector import Detector

    assets = Path(__file__).resolve().parents[1] / "assets" / "demo_detector"
    torch.manual_seed(0)
    model = Detector().eval()
    if (assets / "detector.safetensors").is_file() and (assets / "detector.onnx").is_file():
        from safetensors.torch import load_file

        model.load_state_dict(load_file(str(assets / "detector.safetensors")))
        return model, assets / "detector.onnx", 320
    logging.getLogger(__name__).warning("demo detector assets missing: benchmarking an untrained detector")
    path = work / "detector.onnx"
    export_onnx(model, path)
    write_manifest(path)
    return model, path, 320


def _classifier(work: Path, size: int) -> tuple[Any, Path, int]:
    from edge_ai_ros.models.classifier import build_classifier, export_classifier_onnx

    model = build_classifier()
    return model, export_classifier_onnx(work / f"resnet18_classifier_{size}.onnx", model, size=size), size


def run(args: argparse.Namespace) -> int:
    import torch

    from edge_ai_ros.compiler import benchmark
    from edge_ai_ros.host import available_cores, cpu_device_string

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    torch.set_num_threads(available_cores())
    iterations = 10 if args.quick else args.iterations
    rows = []
    with benchmark.scratch_dir() as scratch:
        work = Path(scratch)
        calib = _calibration_folder(work / "calib", 12 if args.quick else 24)
        makers = {"detector": lambda: _detector(work), "classifier": lambda: _classifier(work, 112 if args.quick else 224)}
        for name in args.models.split(","):
            model, onnx_path, size = makers[name]()
            rows += benchmark.bench_model(name, model, onnx_path, calib, size, Path(args.cache_dir), iterations)
    meta = {"device": cpu_device_string(), "cores": available_cores(), "python": platform.python_version(),
            "torch": torch.__version__, "iterations": iterations, "quick": args.quick}
    json_path, md_path = benchmark.write_reports(rows, Path(args.out), meta)
    print(md_path.read_text(encoding="utf-8"))
    print(f"wrote {json_path} and {md_path}")
    return 0
