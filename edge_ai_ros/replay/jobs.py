"""Many bags in parallel processes, one replay per process, and a summary across bags.

Each job runs as ``python -m edge_ai_ros.ros.drivers.replay_process JOB.json`` in a child
process of its own (a process boundary, not an import: this module stays ROS-free): a crash or a hung DDS participant in one bag cannot take the others down, and each
worker slot has its own ROS_DOMAIN_ID (and its own node namespace), so parallel replays
never see each other's topics. The job is a JSON file and the result is ``summary.json``
in its output directory, which is also all a remote task on a fleet (a Ray task per bag)
would exchange.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from queue import SimpleQueue
from typing import Any

from edge_ai_ros.atomic_io import atomic_write_text
from edge_ai_ros.errors import ConfigError, EdgeAiError
from edge_ai_ros.replay.compare import Tolerances
from edge_ai_ros.replay.session import ReplayJob, ReplayResult, error_result

MAX_DOMAIN_ID = 101  # the portable range of ROS_DOMAIN_ID on Linux
# The child's entry point: it wires the ROS player into replay.session (started by name, never imported).
CHILD_MODULE = "edge_ai_ros.ros.drivers.replay_process"


def job_to_dict(job: ReplayJob) -> dict[str, Any]:
    return dataclasses.asdict(job)


def job_from_dict(data: dict[str, Any]) -> ReplayJob:
    values = dict(data)
    values["tolerances"] = Tolerances(**values.get("tolerances", {}))
    return ReplayJob(**values)


def result_from_dict(data: dict[str, Any]) -> ReplayResult:
    values = dict(data)
    values["unanswered"] = tuple(values.get("unanswered", ()))
    return ReplayResult(**values)


def worker_domain_ids(workers: int, base: int | None = None) -> list[int]:
    """One domain id per worker slot: base, base+1, ... (base = ROS_DOMAIN_ID, default 0)."""
    start = int(os.environ.get("ROS_DOMAIN_ID", "0")) if base is None else base
    ids = [start + i for i in range(workers)]
    if workers < 1 or ids[-1] > MAX_DOMAIN_ID or start < 0:
        raise ConfigError("jobs", f"{workers} workers from domain id {start} leave 0..{MAX_DOMAIN_ID}",
                          fix="lower --jobs or pass --domain-ids")
    return ids


def _run_child(job: ReplayJob, domain_id: int, timeout_s: float) -> ReplayResult:
    out = Path(job.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    job = dataclasses.replace(job, domain_id=domain_id, namespace=f"replay_w{domain_id}")
    job_file = atomic_write_text(out / "job.json", json.dumps(job_to_dict(job), indent=1) + "\n")
    (out / "summary.json").unlink(missing_ok=True)
    env = {**os.environ, "ROS_DOMAIN_ID": str(domain_id)}
    with open(out / "replay.log", "wb") as log:
        try:
            proc = subprocess.run([sys.executable, "-m", CHILD_MODULE, str(job_file)], env=env,
                                  stdout=log, stderr=subprocess.STDOUT, timeout=timeout_s, check=False)
        except subprocess.TimeoutExpired:
            return error_result(job, EdgeAiError(f"replay did not finish within {timeout_s:.0f} s (log: {log.name})"))
    summary = out / "summary.json"
    if summary.is_file():
        return result_from_dict(json.loads(summary.read_text(encoding="utf-8")))
    return error_result(job, EdgeAiError(f"replay process exited with {proc.returncode} and wrote no summary",
                                         fix=f"see {out / 'replay.log'}"))


def run_jobs(jobs: Sequence[ReplayJob], *, workers: int, domain_ids: Sequence[int] | None = None,
             timeout_s: float = 1800.0, on_result: Callable[[ReplayResult], None] | None = None) -> list[ReplayResult]:
    """Run ``jobs`` with ``workers`` child processes at a time; results in the order of ``jobs``."""
    ids = list(domain_ids) if domain_ids else worker_domain_ids(workers)
    if len(ids) < workers:
        raise ConfigError("domain_ids", f"{len(ids)} ids for {workers} workers", fix="give one id per worker")
    free: SimpleQueue[int] = SimpleQueue()
    for domain_id in ids[:workers]:
        free.put(domain_id)
    lock = threading.Lock()

    def one(job: ReplayJob) -> ReplayResult:
        domain_id = free.get()
        try:
            result = _run_child(job, domain_id, timeout_s)
        finally:
            free.put(domain_id)
        if on_result is not None:
            with lock:
                on_result(result)
        return result

    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(one, jobs))


def summary_rows(results: Sequence[ReplayResult]) -> list[list[str]]:
    rows = [["bag", "verdict", "frames", "mAP@0.5", "recall", "p50 ms", "replay fps", "engine fps", "report / reason"]]
    for r in results:
        rows.append([
            Path(r.bag).name, r.verdict, f"{r.frames_answered}/{r.frames_read}",
            "" if r.map50 is None else f"{r.map50:.3f}", "" if r.recall is None else f"{r.recall:.3f}",
            f"{r.latency_ms.get('p50', 0.0):.1f}", f"{r.replay_fps:.1f}", f"{r.engine_fps:.1f}",
            r.report if r.verdict in ("pass", "done", "recorded") else f"{r.reason} {r.report}".strip(),
        ])
    return rows


def write_summary(results: Sequence[ReplayResult], out_dir: str | Path) -> tuple[Path, Path]:
    """summary.json (every result) and summary.md (one table row per bag) across bags."""
    out = Path(out_dir)
    counts = {v: sum(1 for r in results if r.verdict == v) for v in ("pass", "fail", "error", "recorded", "done")}
    data = {"bags": len(results), "counts": counts, "results": [r.to_dict() for r in results]}
    rows = summary_rows(results)
    table = ["| " + " | ".join(rows[0]) + " |", "|" + "---|" * len(rows[0])]
    table += ["| " + " | ".join(c.replace("|", "/") for c in row) + " |" for row in rows[1:]]
    head = ", ".join(f"{n} {v}" for v, n in counts.items() if n)
    md = f"# Replay summary: {len(results)} bag(s), {head}\n\n" + "\n".join(table) + "\n"
    return (atomic_write_text(out / "summary.json", json.dumps(data, indent=1) + "\n"),
            atomic_write_text(out / "summary.md", md))
