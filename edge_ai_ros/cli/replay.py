"""``edge-ai-ros replay``: bags through the inference node, compared with golden outputs.

Exit status: 0 when every bag passed (or was recorded / had no golden), 1 when a bag
differs from its golden beyond the tolerances or was truncated, 2 when a bag could not
be replayed at all (missing topic, golden of another bag or model, ...).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from edge_ai_ros.cli.replay_fleet import add_fleet_arguments, run_on_ray, split_address
from edge_ai_ros.errors import ConfigError, EdgeAiError
from edge_ai_ros.replay.compare import Tolerances
from edge_ai_ros.replay.junit import bag_case, exit_status, parse_fail_on, write_junit
from edge_ai_ros.replay.session import ReplayJob, ReplayResult, error_result

DEFAULT_MANIFEST = Path(__file__).resolve().parents[1] / "assets" / "demo_detector" / "detector.onnx.manifest.json"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("bags", nargs="+", metavar="BAG", help="rosbag2 bag directories (or .db3/.mcap files)")
    parser.add_argument("--topic", default="/camera/image_raw",
                        help="image topic; its /compressed sibling is used when only that was recorded")
    parser.add_argument("--model", default=str(DEFAULT_MANIFEST), help="the engine's *.manifest.json")
    parser.add_argument("--backend", default="auto", help="auto, onnxruntime, openvino or tensorrt")
    parser.add_argument("--golden", default="",
                        help="golden JSON to compare with; a directory holds <bag name>.golden.json per bag")
    parser.add_argument("--record-golden", action="store_true", help="write this run as the golden instead")
    parser.add_argument("--out", default="out/replay", help="output directory (one sub-directory per bag)")
    parser.add_argument("--jobs", type=int, default=1, help="bags replayed in parallel child processes")
    parser.add_argument("--domain-ids", default="",
                        help="comma-separated ROS_DOMAIN_ID per worker (default: ROS_DOMAIN_ID, +1, ...)")
    tol = parser.add_argument_group("tolerances")
    defaults = Tolerances()
    tol.add_argument("--min-iou", type=float, default=defaults.min_iou, help="IoU for a box to match golden")
    tol.add_argument("--max-score-diff", type=float, default=defaults.max_score_diff, help="allowed |score change|")
    tol.add_argument("--max-missing", type=int, default=defaults.max_missing_per_frame, help="missing per frame")
    tol.add_argument("--max-extra", type=int, default=defaults.max_extra_per_frame, help="extra per frame")
    tol.add_argument("--max-failed-frames", type=float, default=defaults.max_failed_frame_fraction,
                     help="fraction of frames allowed to fail")
    tol.add_argument("--ignore-below", type=float, default=defaults.ignore_unmatched_below,
                     help="unmatched detections scoring below this are not counted")
    parser.add_argument("--any-model", action="store_true", help="compare with a golden of another model anyway")
    parser.add_argument("--no-engine-rate", action="store_true", help="skip the engine-only rate measurement")
    parser.add_argument("--worst", type=int, default=6, help="overlays of this many worst frames in the report")
    parser.add_argument("--frame-timeout", type=float, default=10.0, help="seconds to wait for one frame's output")
    parser.add_argument("--no-stage-timings", action="store_true",
                        help="do not ask the node for per-frame stage times (report: where the time went)")
    add_fleet_arguments(parser)


def golden_for(bag: str, golden: str, *, many: bool, record: bool) -> str:
    """The golden file of one bag: ``golden`` itself, or <bag name>.golden.json in a directory."""
    if not golden:
        return ""
    path = Path(golden)
    if path.is_dir() or (record and many):
        if record:
            path.mkdir(parents=True, exist_ok=True)
        return str(path / f"{Path(bag).name}.golden.json")
    if many:
        raise ConfigError("--golden", f"{golden} is one file but several bags were given",
                          fix="pass a directory of <bag name>.golden.json files")
    return golden


def build_jobs(args: argparse.Namespace) -> list[ReplayJob]:
    tolerances = Tolerances(min_iou=args.min_iou, max_score_diff=args.max_score_diff,
                            max_missing_per_frame=args.max_missing, max_extra_per_frame=args.max_extra,
                            max_failed_frame_fraction=args.max_failed_frames, ignore_unmatched_below=args.ignore_below)
    many = len(args.bags) > 1
    return [
        ReplayJob(bag=bag, topic=args.topic, manifest=args.model, backend=args.backend,
                  out_dir=str(Path(args.out) / Path(bag).name), tolerances=tolerances,
                  golden=golden_for(bag, args.golden, many=many, record=args.record_golden),
                  record_golden=args.record_golden, allow_other_model=args.any_model,
                  measure_engine=not args.no_engine_rate, worst_frames=args.worst, frame_timeout_s=args.frame_timeout,
                  stage_timings=not args.no_stage_timings)
        for bag in args.bags
    ]


def print_result(result: ReplayResult) -> None:
    line = f"{result.bag}: {result.verdict.upper()}"
    if result.reason:
        line += f" ({result.reason})"
    print(line)
    if result.verdict == "error":
        return
    lat = result.latency_ms
    print(f"  frames {result.frames_answered}/{result.frames_read} answered; latency p50 {lat.get('p50', 0):.1f} ms "
          f"p99 {lat.get('p99', 0):.1f} ms")
    if result.map50 is not None:
        print(f"  vs golden: precision {result.precision:.4f} recall {result.recall:.4f} mAP@0.5 {result.map50:.4f}")
    print(f"  throughput: replay {result.replay_fps:.1f} frames/s through the node; engine only "
          f"{result.engine_fps:.1f} frames/s; pipeline without ROS {result.pipeline_fps:.1f} frames/s "
          f"({result.decode_pipeline_fps:.1f} with image decoding)")
    ros, node = result.stages_ms.get("ros_path"), result.stages_ms.get("node_total")
    if ros and node:
        print(f"  per frame: ROS path (transport, node queue, publish) p50 {ros['p50']:.2f} ms p99 {ros['p99']:.2f} ms; "
              f"node callback -> publish p50 {node['p50']:.2f} ms (stage table in the report)")
    print(f"  report: {result.report}")
    if result.golden_written:
        print(f"  golden written: {result.golden_written}")


def _run_serial(jobs: list[ReplayJob]) -> list[ReplayResult]:
    from edge_ai_ros.ros.drivers.replay_process import run_replay

    results = []
    for job in jobs:
        try:
            result = run_replay(job)
        except EdgeAiError as err:
            result = error_result(job, err)
        print_result(result)
        results.append(result)
    return results


def run(args: argparse.Namespace) -> int:
    from edge_ai_ros.replay.jobs import run_jobs, write_summary

    os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    split_address(args)
    try:
        if args.jobs < 1:
            raise ConfigError("--jobs", f"must be >= 1, got {args.jobs}")
        fail_on = parse_fail_on(args.fail_on)
        jobs = build_jobs(args)
        ids = [int(x) for x in args.domain_ids.split(",") if x.strip()] if args.domain_ids else None
        cases = None
        if args.ray is not None:
            results, cases = run_on_ray(args, jobs)
            for result in results:
                print_result(result)
        elif args.jobs == 1 and not ids:
            results = _run_serial(jobs)
        else:
            results = run_jobs(jobs, workers=args.jobs, domain_ids=ids, on_result=print_result)
    except (EdgeAiError, ValueError) as err:
        print(f"edge-ai-ros replay: {err}", file=sys.stderr)
        return 2
    if len(results) > 1:
        _, md = write_summary(results, args.out)
        print(f"summary across {len(results)} bags: {md}")
    cases = cases if cases is not None else [bag_case(r) for r in results]
    junit = write_junit(cases, args.junit or Path(args.out) / "junit.xml", fail_on)
    print(f"JUnit: {junit} (failing on {', '.join(sorted(fail_on)) or 'nothing'})")
    return exit_status(cases, fail_on)
