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
    camera = parser.add_argument_group(
        "stock camera publisher (docs/camera_drivers.md)",
        "With --camera, frames come from a separate stock publisher process per case instead; every "
        "combination of the lists below is run, alternating between the node variants.")
    camera.add_argument("--camera", action="store_true", help="run the stock-camera cases")
    camera.add_argument("--publisher-profile", default="none,shipped",
                        help="comma list: none (Fast DDS defaults) and/or shipped (config/fastdds_profile.xml)")
    camera.add_argument("--publisher-reliability", default="reliable,best_effort", help="comma list")
    camera.add_argument("--size", default="640x480", help="comma list of 640x480, 1280x720, 1920x1080")
    camera.add_argument("--encoding", default="raw", help="comma list: raw (rgb8) and/or jpeg")
    camera.add_argument("--variant", action="append", default=[], metavar="NAME[:PARAM=VALUE,...]",
                        help="a node variant, e.g. before:input_qos=best_effort; fastdds_profile=PATH sets the "
                             "node's Fast DDS profile; repeatable (default: one variant, auto)")
    camera.add_argument("--repeats", type=int, default=1, help="runs of the whole case list")


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


def parse_variants(items: list[str]) -> dict[str, dict[str, object]]:
    """``["before:input_qos=best_effort", "after"]`` -> {"before": {"input_qos": "best_effort"}, "after": {}}."""
    out: dict[str, dict[str, object]] = {}
    for item in items or ["auto"]:
        name, _, params = item.partition(":")
        out[name] = parse_params([p for p in params.split(",") if p])
    return out


def _run_camera(args: argparse.Namespace) -> int:
    import json

    from edge_ai_ros.atomic_io import atomic_write_text
    from edge_ai_ros.ros.drivers.camera_bench import (
        CameraBenchConfig,
        CameraCase,
        format_rows,
        run_camera_bench,
    )

    cases = tuple(CameraCase(profile=profile == "shipped", reliability=rel, size=size, compressed=enc == "jpeg")
                  for size in args.size.split(",") for enc in args.encoding.split(",")
                  for profile in args.publisher_profile.split(",") for rel in args.publisher_reliability.split(","))
    config = CameraBenchConfig(cases=cases, variants=parse_variants(args.variant), frames=args.frames, hz=args.hz,
                               repeats=args.repeats, manifest=args.model, backend=args.backend,
                               log_dir=args.node_log)
    report = run_camera_bench(config)
    print(format_rows(report["rows"]))
    print(f"host: {report['host']}")
    atomic_write_text(args.json, json.dumps(report, indent=1, default=str))
    print(f"wrote {args.json}")
    return 0


def run(args: argparse.Namespace) -> int:
    if args.camera:
        return _run_camera(args)
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
