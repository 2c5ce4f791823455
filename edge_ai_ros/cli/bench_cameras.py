"""``edge-ai-ros bench-cameras``: the inference node under N cameras, batched in one node against N nodes.

Peak throughput (highest per-camera rate with at most 5 % of frames dropped) and fixed-rate
runs (latency p50/p99, frames answered, CPU per frame, RSS) for each camera count, in one run
for both modes; table on stdout, JSON (with the host) and a PNG plot. docs/bench_cameras.md.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def _floats(text: str) -> tuple[float, ...]:
    return tuple(float(v) for v in text.split(",") if v.strip())


def _ints(text: str) -> tuple[int, ...]:
    return tuple(int(v) for v in text.split(",") if v.strip())


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--cameras", type=_ints, default=(1, 2, 4, 8), help="comma list of camera counts")
    parser.add_argument("--modes", default="batched,single",
                        help="comma list: batched (one node, parameter cameras) and/or single (one node per camera)")
    parser.add_argument("--rates", type=_floats, default=(10.0, 30.0, 60.0), help="fixed rates per camera, Hz")
    parser.add_argument("--fixed-s", type=float, default=5.0, help="length of each fixed-rate run, s")
    parser.add_argument("--trial-s", type=float, default=2.0, help="length of each peak-search trial, s")
    parser.add_argument("--low-hz", type=float, default=2.0, help="peak search: lowest per-camera rate")
    parser.add_argument("--high-hz", type=float, default=60.0, help="peak search: first per-camera rate tried")
    parser.add_argument("--steps", type=int, default=5, help="peak search: bisection steps")
    parser.add_argument("--max-drop", type=float, default=0.05, help="peak search: largest dropped fraction")
    parser.add_argument("--no-search", action="store_true", help="fixed-rate runs only")
    parser.add_argument("--width", type=int, default=640, help="frame width (rgb8)")
    parser.add_argument("--height", type=int, default=480, help="frame height (rgb8)")
    parser.add_argument("--model", default="", help="model manifest (*.manifest.json); default: the demo detector")
    parser.add_argument("--backend", default="auto", help="auto | onnxruntime | openvino | tensorrt")
    parser.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                        help="node parameter for every node of both modes (YAML value); repeatable")
    parser.add_argument("--batched-param", action="append", default=[], metavar="NAME=VALUE",
                        help="parameter of the batched node only, e.g. batch_timeout_ms=5; repeatable")
    parser.add_argument("--json", type=Path, default=Path("out/bench_cameras.json"), help="results (JSON)")
    parser.add_argument("--plot", type=Path, default=Path("out/bench_cameras.png"), help="plot (PNG)")
    parser.add_argument("--log-dir", type=Path, default=None, help="write node and player logs here")


def run(args: argparse.Namespace) -> int:
    from edge_ai_ros.benchmarks.camera_scaling import SearchSettings
    from edge_ai_ros.benchmarks.camera_scaling_report import format_table, plot, write_report
    from edge_ai_ros.cli.bench_node import parse_params
    from edge_ai_ros.ros.drivers.camera_scaling_bench import ScalingConfig, config_dict, run_scaling

    search = None if args.no_search else SearchSettings(low_hz=args.low_hz, high_hz=args.high_hz, steps=args.steps,
                                                        max_drop=args.max_drop)
    config = ScalingConfig(cameras=args.cameras, modes=tuple(m for m in args.modes.split(",") if m),
                           fixed_rates_hz=args.rates, fixed_s=args.fixed_s, trial_s=args.trial_s, search=search,
                           width=args.width, height=args.height, manifest=args.model, backend=args.backend,
                           node_parameters=parse_params(args.param), batched_parameters=parse_params(args.batched_param),
                           log_dir=args.log_dir)
    cases = run_scaling(config, on_case=lambda case: print(format_table([case]).splitlines()[-1], flush=True))
    print(format_table(cases))
    write_report(args.json, cases, config_dict(config))
    print(f"wrote {args.json}")
    if plot(args.plot, cases) is not None:
        print(f"wrote {args.plot}")
    return 0
