"""A fleet run from end to end: plan tasks per bag, run them on Ray, gather one result per bag.

Planning happens on the driver, before any task starts, with the checks a local run makes
first: the bag opens and has the topic, the golden belongs to this bag and model. Each
bag's tasks' outputs are then put back together in frame order and handed to the same
session code a local run uses (``replay.session.run_replay``), through a player that
returns what the tasks played: the detections JSON, results bag, report and golden are
written exactly as a local run writes them. The engine-only rate is not measured on the
driver (that would replay every bag a second time there); the replay rate is the tasks'.

A bag with a lost task (every attempt failed) still gets its report for what was played;
its verdict is ``error`` and the reason names the chunks and frames that were not compared.
``fleet.json`` and ``fleet.md`` list every task with its attempts and errors.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edge_ai_ros.atomic_io import atomic_write_text
from edge_ai_ros.bags.source import BagSource, Frame
from edge_ai_ros.errors import EdgeAiError
from edge_ai_ros.manifest import load_manifest
from edge_ai_ros.replay import session
from edge_ai_ros.replay.chunks import plan_chunks
from edge_ai_ros.replay.fleet import FleetConfig, TaskRecord, run_tasks
from edge_ai_ros.replay.fleet_task import FleetTask
from edge_ai_ros.replay.junit import Case, bag_case, problems_of
from edge_ai_ros.replay.player import DEFAULT_REPLAYER_CONFIG, FramePlayer, ReplayerConfig, ReplayOutcome
from edge_ai_ros.replay.session import ReplayJob, ReplayResult, error_result


@dataclass(frozen=True, kw_only=True)
class FleetRun:
    results: tuple[ReplayResult, ...]  # one per job, in job order
    records: tuple[TaskRecord, ...]  # one per task, in task order

    def lost(self) -> tuple[TaskRecord, ...]:
        return tuple(r for r in self.records if r.lost)

    def retried(self) -> tuple[TaskRecord, ...]:
        return tuple(r for r in self.records if r.attempts > 1)


class _Played:
    """A FramePlayer that returns outputs already played by the fleet's tasks."""

    def __init__(self, outcome: ReplayOutcome) -> None:
        self.outcome = outcome

    def __call__(self, frames: Iterable[Frame], *, msgtype: str, manifest: str, backend: str,
                 config: ReplayerConfig = DEFAULT_REPLAYER_CONFIG) -> ReplayOutcome:
        return self.outcome


def plan_job(job: ReplayJob, config: FleetConfig, first_number: int) -> list[FleetTask]:
    """The tasks of one bag, after the checks a local run makes before its node starts."""
    model = session.identity_of(load_manifest(job.manifest), job.backend)
    scan = BagSource(job.bag, job.topic).scan()
    session.checked_golden(job, scan, model)
    ranges = plan_chunks(scan.stamps, config.chunk_seconds)
    return [FleetTask(number=first_number + k, bag=job.bag, topic=job.topic, manifest=job.manifest,
                      backend=job.backend, frames=r, chunk=k, chunks=len(ranges),
                      frame_count=len(r.indices(scan.readable_frames)), domain_id=config.domain_of(first_number + k),
                      frame_timeout_s=job.frame_timeout_s, stage_timings=job.stage_timings)
            for k, r in enumerate(ranges)]


def merge_outcomes(records: Sequence[TaskRecord]) -> ReplayOutcome:
    """One bag's outcome from its chunks; frames of lost chunks count as unanswered."""
    played = [r.outcome for r in records if r.outcome is not None]
    lost: list[int] = []
    for r in records:
        if r.lost:
            lost += r.task.frames.indices(r.task.frames.start + r.task.frame_count)
    return ReplayOutcome(
        outputs=tuple(sorted((o for p in played for o in p.outputs), key=lambda o: o.index)),
        frames_published=sum(p.frames_published for p in played),
        unanswered=tuple(sorted({*lost, *(i for p in played for i in p.unanswered)})),
        unexpected_outputs=sum(p.unexpected_outputs for p in played),
        wall_s=max(sum(p.wall_s for p in played), 1e-9),
        read_error=next((p.read_error for p in played if p.read_error), ""),
    )


def not_compared(records: Sequence[TaskRecord]) -> str:
    """Which frames of a bag no task played, and why ("" when every task finished)."""
    parts = [f"{r.task.label} not compared: failed {r.attempts} time(s), last {r.errors[-1] if r.errors else '?'}"
             for r in records if r.lost]
    return "; ".join(parts)


def gather_job(job: ReplayJob, records: Sequence[TaskRecord]) -> ReplayResult:
    """The bag's result from its tasks' outputs, written as a local run writes it."""
    missing = not_compared(records)
    if all(r.lost for r in records):
        return error_result(job, EdgeAiError(f"every frame not compared: {missing}"))
    try:
        result = session.run_replay(dataclasses.replace(job, measure_engine=False), _Played(merge_outcomes(records)))
    except EdgeAiError as err:
        return error_result(job, err)
    if missing:
        result = dataclasses.replace(result, verdict="error", reason=missing)
        atomic_write_text(Path(result.out_dir) / "summary.json", json.dumps(result.to_dict(), indent=1) + "\n")
    return result


def run_fleet(jobs: Sequence[ReplayJob], config: FleetConfig, player: FramePlayer) -> FleetRun:
    """Plan every bag, run the tasks on Ray, gather one result per bag (in job order)."""
    planned: list[list[FleetTask] | ReplayResult] = []
    number = 0
    for job in jobs:
        try:
            tasks = plan_job(job, config, number)
        except EdgeAiError as err:
            planned.append(error_result(job, err))
            continue
        planned.append(tasks)
        number += len(tasks)
    all_tasks = [t for p in planned if isinstance(p, list) for t in p]
    first_of = {t.number: tasks[0].number for tasks in planned if isinstance(tasks, list) for t in tasks}
    job_of = {tasks[0].number: job for job, tasks in zip(jobs, planned, strict=True) if isinstance(tasks, list)}
    waiting: dict[int, list[TaskRecord]] = {}
    gathered: dict[int, ReplayResult] = {}

    def done(record: TaskRecord) -> TaskRecord:
        """Gather a bag as soon as its last task is in, then keep only the record's counts."""
        first = first_of[record.task.number]
        waiting.setdefault(first, []).append(record)
        if len(waiting[first]) == record.task.chunks:
            bag_records = sorted(waiting.pop(first), key=lambda r: r.task.number)
            gathered[first] = gather_job(job_of[first], bag_records)
        return dataclasses.replace(record, outcome=dataclasses.replace(record.outcome, outputs=())) \
            if record.outcome is not None else record

    records = run_tasks(all_tasks, player, config, on_record=done) if all_tasks else []
    results = [p if isinstance(p, ReplayResult) else gathered[p[0].number] for p in planned]
    return FleetRun(results=tuple(results), records=tuple(records))


def _task_case(record: TaskRecord, result: ReplayResult) -> Case:
    task = record.task
    notes = tuple(f"attempt {n} failed: {e}" for n, e in enumerate(record.errors, 1))
    if record.attempts > 1 and not record.lost:
        notes += (f"passed on attempt {record.attempts} (retried {record.attempts - 1} time(s))",)
    if record.lost:
        problems = {"incomplete": f"{task.frames.describe(task.frames.start + task.frame_count)} not compared: "
                                  f"the task failed {record.attempts} time(s)"}
    else:
        chunk = task.frames.indices(task.frames.start + task.frame_count) if task.chunks > 1 else None
        problems = problems_of(result, chunk)
    name = Path(task.bag.rstrip("/")).name or task.bag
    return Case(name=task.label, classname=f"replay.{name}", time_s=record.outcome.wall_s if record.outcome else 0.0,
                problems=problems, notes=notes)


def fleet_cases(run: FleetRun) -> list[Case]:
    """One JUnit case per task (a bag, or a chunk of one); a bag that never became a task has its own."""
    cases: list[Case] = []
    for result in run.results:
        records = [r for r in run.records if r.task.bag == result.bag]
        cases += [_task_case(r, result) for r in records] if records else [bag_case(result)]
    return cases


def record_to_dict(record: TaskRecord) -> dict[str, Any]:
    task = record.task
    return {"task": task.number, "bag": task.bag, "chunk": task.chunk, "chunks": task.chunks,
            "frames": [task.frames.start, task.frames.start + task.frame_count], "domain_id": task.domain_id,
            "attempts": record.attempts, "errors": list(record.errors), "lost": record.lost,
            "frames_published": record.outcome.frames_published if record.outcome else 0}


def write_fleet_report(run: FleetRun, out_dir: str | Path) -> tuple[Path, Path]:
    """fleet.json (every task, its attempts and errors) and fleet.md (retried and lost tasks)."""
    out = Path(out_dir)
    data = {"tasks": [record_to_dict(r) for r in run.records],
            "retried": [r.task.label for r in run.retried()],
            "not_compared": {r.task.bag: not_compared([x for x in run.records if x.task.bag == r.task.bag])
                             for r in run.lost()}}
    lines = [f"# Fleet replay: {len(run.records)} task(s), {len(run.retried())} retried, {len(run.lost())} lost", ""]
    lines += ["| task | attempts | status | errors |", "|---|---|---|---|"]
    for r in run.records:
        status = "lost: frames not compared" if r.lost else "done"
        errs = " / ".join(r.errors).replace("|", "/")
        lines.append(f"| {r.task.label} | {r.attempts} | {status} | {errs} |")
    return (atomic_write_text(out / "fleet.json", json.dumps(data, indent=1) + "\n"),
            atomic_write_text(out / "fleet.md", "\n".join(lines) + "\n"))
