"""``edge-ai-ros compile``: ONNX -> engine + manifest for this machine, with a progress bar."""

from __future__ import annotations

import argparse
import logging
import sys

from edge_ai_ros.compiler.accuracy_gate import DEFAULT_MAX_DROP
from edge_ai_ros.compiler.build import PRECISIONS, BuildOptions
from edge_ai_ros.compiler.calibration_data import METHODS, CalibrationConfig
from edge_ai_ros.compiler.fallback import build_with_fallback
from edge_ai_ros.compiler.tensorrt_options import TensorRtOptions
from edge_ai_ros.errors import EdgeAiError, one_line


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("onnx", help="the FP32 ONNX model (its .manifest.json beside it, if any, is used)")
    parser.add_argument("--precision", choices=PRECISIONS, default="int8", help="engine precision (default int8)")
    parser.add_argument("--backend", choices=("auto", "tensorrt", "openvino", "onnxruntime"), default="auto",
                        help="auto = TensorRT where present, else OpenVINO, else ONNX Runtime; "
                             "auto falls back to the next when one cannot build the model")
    parser.add_argument("--calib", default="", help="image folder, rosbag2 bag, or .npy (needed for int8; "
                        "its held-out frames feed the accuracy gate for every precision)")
    parser.add_argument("--calib-topic", default="", help="image topic when --calib is a bag")
    parser.add_argument("--calib-method", choices=METHODS, default="minmax")
    parser.add_argument("--percentile", type=float, default=99.999, help="for --calib-method percentile")
    parser.add_argument("--max-samples", type=int, default=64, help="calibration frames, sampled evenly")
    parser.add_argument("--max-drop", type=float, default=DEFAULT_MAX_DROP,
                        help="largest accepted drop against FP32 in points (mAP@0.5 or top-1 agreement)")
    keep = parser.add_mutually_exclusive_group()
    keep.add_argument("--keep-layers", default="", help="comma-separated node names kept FP32 (:first, :last)")
    keep.add_argument("--auto-keep", type=int, default=0, help="keep the N most error-adding layers FP32")
    parser.add_argument("--cache-dir", default=".cache/engines", help="content-addressed engine cache")
    parser.add_argument("--out", default="", help="also copy the engine and its manifest here")
    parser.add_argument("--max-batch", type=int, default=8, help="TensorRT profile: largest batch")
    parser.add_argument("--workspace-mib", type=int, default=1024, help="TensorRT builder workspace")
    parser.add_argument("--dla-core", type=int, default=-1, help="TensorRT: DLA core with GPU fallback")
    parser.add_argument("--hardware-compatible", action="store_true", help="TensorRT: Ampere+ portable engine")
    parser.add_argument("--version-compatible", action="store_true", help="TensorRT: newer runtimes can load it")
    parser.add_argument("--allow-tf32", action="store_true", help="TensorRT: let fp32 engines use TF32 (Ampere+)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def options_from_args(args: argparse.Namespace) -> BuildOptions:
    calibration = None
    if args.calib:
        calibration = CalibrationConfig(source=args.calib, topic=args.calib_topic, method=args.calib_method,
                                        percentile=args.percentile, max_samples=args.max_samples)
    return BuildOptions(
        onnx_path=args.onnx, precision=args.precision, backend=args.backend, calibration=calibration,
        max_drop=args.max_drop, keep_layers=tuple(n for n in args.keep_layers.split(",") if n),
        auto_keep=args.auto_keep, cache_dir=args.cache_dir, out_dir=args.out,
        tensorrt=TensorRtOptions(max_batch=args.max_batch, workspace_mib=args.workspace_mib, dla_core=args.dla_core,
                                 hardware_compatible=args.hardware_compatible,
                                 version_compatible=args.version_compatible, allow_tf32=args.allow_tf32),
    )


class ProgressBar:
    """One redrawn line on stderr: [#####-----]  50% building  onnxruntime int8."""

    def __init__(self, enabled: bool) -> None:
        self._enabled = enabled

    def __call__(self, stage: str, fraction: float, detail: str) -> None:
        if not self._enabled:
            return
        filled = int(round(30 * fraction))
        sys.stderr.write(f"\r[{'#' * filled}{'-' * (30 - filled)}] {100 * fraction:3.0f}% {stage:<11} {detail[:60]:<60}")
        sys.stderr.flush()

    def done(self) -> None:
        if self._enabled:
            sys.stderr.write("\n")


def run(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    bar = ProgressBar(not args.quiet and sys.stderr.isatty())
    try:
        result = build_with_fallback(options_from_args(args), progress=bar)
    except EdgeAiError as err:
        bar.done()
        print(f"edge-ai-ros compile: {one_line(err)}", file=sys.stderr)
        return 1
    bar.done()
    accuracy = result.manifest.accuracy or {}
    print(f"{'cache hit' if result.cache_hit else 'built'}: {result.engine_path}")
    print(f"manifest: {result.manifest_path}")
    for skipped in result.manifest.build.get("fallback", {}).get("skipped", []):
        print(f"fell back from {skipped['backend']} to {result.manifest.backend}: {skipped['reason']}")
    if accuracy:
        print(f"accuracy: {accuracy['metric']} {accuracy['candidate']:.2f} (drop {accuracy['drop']:.2f}), "
              f"relative error {accuracy['relative_error']:.3g}")
    return 0
