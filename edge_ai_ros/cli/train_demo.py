"""``edge-ai-ros train-demo``: train, export and evaluate the demo detector, reproducibly.

Writes detector.safetensors, detector.onnx and detector.onnx.manifest.json (with the
training settings in ``build`` and the held-out mAP@0.5 in ``accuracy``) into --out-dir.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import Any

DEFAULT_OUT = Path(__file__).resolve().parents[1] / "assets" / "demo_detector"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out-dir", default=str(DEFAULT_OUT), help="where the three files go (default: shipped assets)")
    parser.add_argument("--steps", type=int, default=1800, help="optimizer steps (default 1800, as shipped)")
    parser.add_argument("--batch-size", type=int, default=16, help="generated scenes per step (default 16)")
    parser.add_argument("--lr", type=float, default=3e-3, help="peak AdamW learning rate (default 3e-3)")
    parser.add_argument("--seed", type=int, default=0, help="seeds weights and the training scenes (default 0)")
    parser.add_argument("--width-mult", type=float, default=1.0, help="channel multiplier of the architecture")
    parser.add_argument("--eval-images", type=int, default=300, help="held-out scenes for mAP@0.5 (default 300)")
    parser.add_argument("--workers", type=int, default=1, help="scene-generating processes (default 1)")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads (default 2)")
    parser.add_argument("--quiet", action="store_true", help="no per-step progress")


def _train(args: argparse.Namespace) -> tuple[Any, float]:
    # idle OpenMP threads sleep instead of spinning: on a shared CPU spinning cost 5x the CPU time
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    import torch

    from edge_ai_ros.demo.train import train_detector
    from edge_ai_ros.models.detector import Detector, DetectorConfig

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    model = Detector(DetectorConfig.scaled(args.width_mult))
    start = time.monotonic()
    train_detector(model, steps=args.steps, batch_size=args.batch_size, lr=args.lr, seed=args.seed,
                   progress=not args.quiet, workers=args.workers)
    return model, time.monotonic() - start


def _print_table(result: Any, labels: tuple[str, ...]) -> None:
    print(f"{'class':<14}{'AP@0.5':>8}{'boxes':>8}")
    for name, ap, n in zip(labels, result.per_class_ap, result.num_ground_truth, strict=True):
        print(f"{name:<14}{ap:>8.3f}{n:>8d}")
    print(f"{'mAP@0.5':<14}{result.map:>8.3f}")


def run(args: argparse.Namespace) -> int:
    from edge_ai_ros.demo.evaluate import evaluate_map, onnx_predict_fn
    from edge_ai_ros.demo.export import export_onnx, write_manifest
    from edge_ai_ros.demo.scene import CLASSES
    from edge_ai_ros.models.detector import count_parameters
    from edge_ai_ros.models.detector_weights import save_detector

    out = Path(args.out_dir)
    model, seconds = _train(args)
    settings = {"steps": args.steps, "batch_size": args.batch_size, "lr": args.lr, "seed": args.seed,
                "width_mult": args.width_mult, "threads": args.threads}
    save_detector(model, out / "detector.safetensors", extra={"training": json.dumps(settings)})
    report = export_onnx(model, out / "detector.onnx")
    start = time.monotonic()
    result = evaluate_map(onnx_predict_fn(report.path), num_images=args.eval_images, seed=0)
    accuracy = {**result.as_dict(CLASSES), "metric": "map50", "eval_split": "eval", "eval_seed": 0,
                "eval_images": args.eval_images, "evaluated_with": "onnxruntime fp32"}
    build = {"training": settings, "train_seconds": round(seconds, 1), "parameters": count_parameters(model),
             "config": json.loads(json.dumps(model.config.__dict__)), "onnx_max_abs_diff": report.max_abs_diff,
             "command": "edge-ai-ros train-demo " + " ".join(f"--{k.replace('_', '-')} {v}" for k, v in settings.items())}
    manifest = write_manifest(report.path, accuracy=accuracy, build=build)
    for path in (out / "detector.safetensors", report.path, manifest):
        path.chmod(0o644)  # package data: readable by everyone (temporary files are created 0600)
    print(f"trained {args.steps} steps in {seconds:.0f} s; evaluated {args.eval_images} held-out scenes "
          f"in {time.monotonic() - start:.0f} s; ONNX vs torch max abs diff {report.max_abs_diff:.2e}")
    _print_table(result, CLASSES)
    print(f"wrote {out / 'detector.safetensors'}, {report.path}, {manifest}")
    return 0
