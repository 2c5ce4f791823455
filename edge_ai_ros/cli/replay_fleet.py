"""The ``--ray`` side of ``edge-ai-ros replay``: its options, and the fleet run wired to the real node."""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence
from pathlib import Path

from edge_ai_ros.errors import ConfigError
from edge_ai_ros.replay.junit import DEFAULT_FAIL_ON, Case
from edge_ai_ros.replay.session import ReplayJob, ReplayResult


def add_fleet_arguments(parser: argparse.ArgumentParser) -> None:
    fleet = parser.add_argument_group("fleet (Ray) and verdicts")
    fleet.add_argument("--ray", nargs="?", const="", default=None, metavar="ADDRESS",
                       help="replay on Ray, one task per bag or chunk: no ADDRESS starts Ray on this machine; "
                            "auto or ray://host:port connects to a running cluster")
    fleet.add_argument("--ray-cpus", type=int, default=None, help="CPUs of a local Ray instance (default: all)")
    fleet.add_argument("--chunk-seconds", type=float, default=0.0,
                       help="with --ray, cut each bag into tasks of this many seconds of frames (0: whole bags)")
    fleet.add_argument("--max-retries", type=int, default=2, help="with --ray, extra attempts of a failed task")
    fleet.add_argument("--domain-range", default="",
                       help="with --ray, ROS_DOMAIN_IDs for tasks as FIRST-LAST (default: ROS_DOMAIN_ID and the 9 after)")
    fleet.add_argument("--no-progress", action="store_true", help="no progress bar")
    fleet.add_argument("--fail-on", default=DEFAULT_FAIL_ON,
                       help="problems that fail the run: regression, truncated, unanswered, error, incomplete")
    fleet.add_argument("--junit", default="", help="JUnit XML file (default: OUT/junit.xml)")


def domain_range(text: str) -> tuple[int, int]:
    """``FIRST-LAST`` -> (first, count); default: ROS_DOMAIN_ID .. +9 within 0..101."""
    if not text:
        base = int(os.environ.get("ROS_DOMAIN_ID", "0") or 0)
        return base, max(1, min(10, 102 - base))
    try:
        first, last = (int(x) for x in text.split("-", 1))
    except ValueError as err:
        raise ConfigError("--domain-range", f"{text!r} is not FIRST-LAST", fix="pass e.g. 20-29") from err
    return first, last - first + 1


def split_address(args: argparse.Namespace) -> None:
    """``--ray BAG ...`` takes the first bag as the address; give it back when it is a path that exists."""
    if args.ray and Path(args.ray).exists():
        args.bags.insert(0, args.ray)
        args.ray = ""


def run_on_ray(args: argparse.Namespace, jobs: Sequence[ReplayJob]) -> tuple[list[ReplayResult], list[Case]]:
    """Run ``jobs`` on Ray through the real node; results per bag and JUnit cases per task."""
    from edge_ai_ros.replay.fleet import FleetConfig
    from edge_ai_ros.replay.fleet_results import fleet_cases, run_fleet, write_fleet_report
    from edge_ai_ros.ros.drivers.bag_replayer import replay_frames

    base, count = domain_range(args.domain_range)
    config = FleetConfig(address=args.ray, num_cpus=args.ray_cpus, max_retries=args.max_retries,
                         chunk_seconds=args.chunk_seconds, domain_base=base, domain_count=count,
                         progress=not args.no_progress)
    run = run_fleet(jobs, config, replay_frames)
    _, md = write_fleet_report(run, args.out)
    print(f"fleet: {len(run.records)} task(s), {len(run.retried())} retried, {len(run.lost())} lost: {md}")
    return list(run.results), fleet_cases(run)
