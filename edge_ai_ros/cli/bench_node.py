"""``edge-ai-ros bench-node``: the inference node under 30 Hz camera frames from another process."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", default="", help="model manifest (*.manifest.json); default: the demo detector")
    parser.add_argument("--backend", default="auto", help="auto | onnxruntime | openvino | tensorrt")
    parser.add_argument("--frames", type=int, default=300, help="measured frames (after warm-up)")
    parser.add_argument("--warmup-frames", type=int, default=30, help="frames sent before measuring")
    parser.add_argument("--hz", type=float, default=30.0, help="publish rate")
    parser.add_argument("--width", type=int, default=640, help="frame width (rgb8)")
    parser.add_argument("--height", type=int, default=480, help="frame height (rgb8)")
    parser.add_argument("--json", type=Path, default=Path("out/bench_node.json"), help="where to write the results")
    parser.add_argument("--node-log", type=Path, default=None, help="write the node's log here")


def run(args: argparse.Namespace) -> int:
    from edge_ai_ros.ros.node_benchmark import BenchConfig, format_table, run_benchmark, write_json

    config = BenchConfig(manifest=args.model, backend=args.backend, frames=args.frames,
                         warmup_frames=args.warmup_frames, hz=args.hz, width=args.width, height=args.height,
                         log_path=args.node_log)
    result = run_benchmark(config)
    print(format_table(result))
    write_json(result, args.json, config)
    print(f"wrote {args.json}")
    return 0
