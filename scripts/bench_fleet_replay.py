"""Replay the same demo-sized bags serially, with --jobs 2, and on local Ray; wall time and frames/s.

Run from the repository root with the venv's python and ROS kept on this host:
``ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST ROS_DOMAIN_ID=91 .venv/bin/python scripts/bench_fleet_replay.py OUT``.
Writes OUT/fleet_bench.json (host facts, load average before/after each run, every run's
numbers) and prints a markdown table. Modes run interleaved, ``--rounds`` times each.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

from edge_ai_ros.demo.make_bag import make_demo_bag

MODES = {
    "serial": [],
    "--jobs 2": ["--jobs", "2"],
    "ray (whole bags)": ["--ray", "--ray-cpus", "2"],
    "ray (2 s chunks)": ["--ray", "--ray-cpus", "2", "--chunk-seconds", "2"],
}


def run_mode(bags: list[str], out: Path, extra: list[str], domain: int) -> dict[str, object]:
    load_before = os.getloadavg()
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "edge_ai_ros.cli.main", "replay", *bags, "--no-engine-rate",
                           "--no-progress", "--out", str(out), "--domain-range", f"{domain}-{domain + 3}",
                           "--domain-ids", f"{domain},{domain + 1}", *extra],
                          capture_output=True, text=True, check=False, timeout=900)
    wall = time.perf_counter() - start
    summary = json.loads((out / "summary.json").read_text())
    frames = sum(r["frames_answered"] for r in summary["results"])
    return {"wall_s": round(wall, 2), "frames": frames, "frames_per_s": round(frames / wall, 1), "exit": proc.returncode,
            "verdicts": summary["counts"], "load_before": load_before, "load_after": os.getloadavg()}


def ray_task_overhead(tasks: int = 200) -> dict[str, float]:
    """Ray start-up and the round trip of empty tasks on this machine (2 CPUs)."""
    os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    import ray

    start = time.perf_counter()
    ray.init(num_cpus=2, include_dashboard=False, _node_ip_address="127.0.0.1", log_to_driver=False)
    init_s = time.perf_counter() - start
    noop = ray.remote(num_cpus=1)(lambda: None)
    ray.get([noop.remote() for _ in range(4)])  # workers started
    start = time.perf_counter()
    ray.get([noop.remote() for _ in range(tasks)])
    per_task = (time.perf_counter() - start) / tasks
    ray.shutdown()
    return {"init_s": round(init_s, 2), "empty_task_ms": round(per_task * 1000, 2)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("out", type=Path)
    parser.add_argument("--bags", type=int, default=8)
    parser.add_argument("--frames", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args()
    bags = [str(make_demo_bag(args.out / "bags" / f"drive_{i}", seed=i, frames=args.frames)) for i in range(args.bags)]
    domain = int(os.environ.get("ROS_DOMAIN_ID", "91"))
    runs: dict[str, list[dict[str, object]]] = {m: [] for m in MODES}
    for r in range(args.rounds):
        for i, (mode, extra) in enumerate(MODES.items()):
            runs[mode].append(run_mode(bags, args.out / f"round{r}_mode{i}", extra, domain))
            print(mode, runs[mode][-1], flush=True)
    result = {"host": {"cpu": platform.processor() or platform.machine(), "cpus": os.cpu_count(),
                       "python": platform.python_version()},
              "bags": args.bags, "frames_per_bag": args.frames, "runs": runs, "ray": ray_task_overhead()}
    (args.out / "fleet_bench.json").write_text(json.dumps(result, indent=1) + "\n")
    base = min(float(str(x["wall_s"])) for x in runs["serial"])
    print("| mode | wall s | frames/s | vs serial | loadavg before -> after |\n|---|---|---|---|---|")
    for mode, items in runs.items():
        best = min(items, key=lambda x: float(str(x["wall_s"])))
        print(f"| {mode} | {best['wall_s']} | {best['frames_per_s']} | {base / float(str(best['wall_s'])):.2f}x | "
              f"{best['load_before'][0]:.2f} -> {best['load_after'][0]:.2f} |")  # type: ignore[index]
    print(result["ray"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
