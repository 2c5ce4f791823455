"""``edge-ai-ros bench-node``: the inference node under 30 Hz camera frames from another process,
with a bare-rclpy transport baseline measured in the same run and a per-frame stage breakdown."""

from __future__ import annotations

import argparse
from pathlib import Path

import yaml


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", default="", help="model manifest (*.manifest.json); default: the demo detector")
    parser.add_argument("--backend", default="auto", help="auto | onnxruntime | openvino | tensorrt")
    parser.add_argument("--frames", type=int, default=300, help="measured frames (after warm-up)")
    parser.add_argument("--warmup-frames", type=int, default=30, help="frames sent before measuring")
    parser.add_argument("--baseline-frames", type=int, default=150,
                        help="frames sent first to a bare rclpy echo process (transport baseline); 0 skips it")
    parser.add_argument("--hz", type=float, default=30.0, help="publish rate")
    parser.add_argument("--width", type=int, default=640, help="frame width (rgb8)")
    parser.add_argument("--height", type=int, default=480, help="frame height (rgb8)")
    parser.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                        help="extra node parameter (YAML value), e.g. --param threads=1; repeatable")
    parser.add_argument("--json", type=Path, default=Path("out/bench_node.json"), help="where to write the results")
    parser.add_argument("--node-log", type=Path, default=None, help="write the node's log here")


def parse_params(items: list[str]) -> dict[str, object]:
    """``["threads=1", "drop_policy=latest"]`` -> {"threads": 1, "drop_policy": "latest"}."""
    from edge_ai_ros.errors import ConfigError  # keeps --help fast

    out: dict[str, object] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise ConfigError("--param", f"{item!r} is not NAME=VALUE", fix="write e.g. --param threads=1")
        out[name.strip()] = yaml.safe_load(value)
    return out


def run(args: argparse.Namespace) -> int:
    from edge_ai_ros.benchmarks.node_report import format_table, write_json
    from edge_ai_ros.ros.drivers.node_benchmark import BenchConfig, run_benchmark

    config = BenchConfig(manifest=args.model, backend=args.backend, frames=args.frames,
                         warmup_frames=args.warmup_frames, baseline_frames=args.baseline_frames, hz=args.hz,
                         width=args.width, height=args.height, log_path=args.node_log,
                         node_parameters=parse_params(args.param))
    result, frames = run_benchmark(config)
    print(format_table(result))
    write_json(result, args.json, vars(config), frames)
    print(f"wrote {args.json}")
    return 0
