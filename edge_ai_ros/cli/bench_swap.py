"""``edge-ai-ros bench-swap``: hot-swap two models back and forth under 30 Hz camera frames."""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

from edge_ai_ros.errors import EdgeAiError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model-a", default="", help="manifest served first; default: the shipped demo detector")
    parser.add_argument("--model-b", required=True,
                        help="a second, different manifest of the same task (e.g. the INT8 build of model A "
                             "from 'edge-ai-ros compile --precision int8')")
    parser.add_argument("--backend", default="auto", help="auto | onnxruntime | openvino | tensorrt")
    parser.add_argument("--swaps", type=int, default=20, help="swaps A->B->A... (default 20)")
    parser.add_argument("--hz", type=float, default=30.0, help="camera rate")
    parser.add_argument("--between", type=float, default=1.0, help="seconds each model serves between swaps")
    parser.add_argument("--json", type=Path, default=Path("out/bench_swap.json"), help="where to write the results")
    parser.add_argument("--node-log", type=Path, default=None, help="write the node's log here")


def run(args: argparse.Namespace) -> int:
    from edge_ai_ros.benchmarks.swap_report import format_table, write_json
    from edge_ai_ros.ros.drivers.swap_benchmark import SwapBenchConfig, run_swap_benchmark
    from edge_ai_ros.ros.params import DEMO_MANIFEST  # rclpy loads here, not at --help

    config = SwapBenchConfig(model_a=args.model_a or str(DEMO_MANIFEST), model_b=args.model_b, backend=args.backend,
                             swaps=args.swaps, hz=args.hz, between_swaps_s=args.between, log_path=args.node_log)
    try:
        result = run_swap_benchmark(config)
    except EdgeAiError as err:
        print(f"edge-ai-ros bench-swap: {err}", file=sys.stderr)
        return 1
    print(format_table(result))
    write_json(result, args.json, dataclasses.asdict(config))
    print(f"wrote {args.json}")
    return 0 if result.swaps_ok == result.swaps_requested else 1
