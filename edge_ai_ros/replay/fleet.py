"""Replay on Ray: one task per bag or chunk, bounded retries, one progress bar across the fleet.

``run_tasks`` connects to Ray (a local instance for an empty address; ``auto`` or
``ray://host:port`` for a running cluster, exactly as ``ray.init(address=...)`` takes them),
submits one task per :class:`~edge_ai_ros.replay.fleet_task.FleetTask`, and gathers
results as they finish. A task that raises or whose worker dies is submitted again, up
to ``max_retries`` more times; after that it is reported as lost (with every attempt's
error) and the other tasks still finish. Ray is imported only here and only when asked for.

A local instance is kept on this host: every Ray server binds the loopback address only
(Ray's own single-host mode, ``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0``) and no dashboard is
started. Ray's usage statistics are switched off (``RAY_USAGE_STATS_ENABLED=0``) unless set.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from edge_ai_ros.errors import ConfigError, EdgeAiError
from edge_ai_ros.replay.fleet_task import FleetTask, play_task
from edge_ai_ros.replay.player import FramePlayer, ReplayOutcome

INSTALL_LINE = "pip install 'edge_ai_ros[ray]'"
LOCAL_ONLY_VAR = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"  # "0": Ray's single-host mode, servers on loopback
USAGE_STATS_VAR = "RAY_USAGE_STATS_ENABLED"  # "0": Ray sends no usage statistics


@dataclass(frozen=True, kw_only=True)
class FleetConfig:
    address: str = ""  # "": start a local Ray instance; "auto" or "ray://host:port": connect to a cluster
    num_cpus: int | None = None  # local instance only; None: every CPU of this machine
    max_retries: int = 2  # extra attempts of a failed or killed task
    chunk_seconds: float = 0.0  # 0: one task per bag
    domain_base: int = 0  # a task's ROS_DOMAIN_ID is domain_base + number % domain_count
    domain_count: int = 10
    progress: bool = True

    def __post_init__(self) -> None:
        if self.address and self.address != "auto" and not self.address.startswith("ray://") and ":" not in self.address:
            raise ConfigError("--ray", f"{self.address!r} is not a Ray address",
                              fix="leave it empty for local Ray, or pass auto, host:port or ray://host:port")
        if self.num_cpus is not None and self.num_cpus < 1:
            raise ConfigError("--ray-cpus", f"must be >= 1, got {self.num_cpus}")
        if self.max_retries < 0:
            raise ConfigError("--max-retries", f"must be >= 0, got {self.max_retries}")
        if self.domain_count < 1 or self.domain_base < 0 or self.domain_base + self.domain_count - 1 > 101:
            raise ConfigError("--domain-range", f"{self.domain_base}..{self.domain_base + self.domain_count - 1} "
                              "leaves the portable ROS_DOMAIN_ID range 0..101", fix="pass e.g. 20-29")

    def domain_of(self, number: int) -> int:
        return self.domain_base + number % self.domain_count


@dataclass(frozen=True, kw_only=True)
class TaskRecord:
    """What became of one task: its outcome, or None when every attempt failed."""

    task: FleetTask
    attempts: int
    errors: tuple[str, ...]  # one line per failed attempt
    outcome: ReplayOutcome | None

    @property
    def lost(self) -> bool:
        return self.outcome is None


def import_ray() -> ModuleType:
    """The ray module, or a clear error with the install line."""
    try:
        return importlib.import_module("ray")
    except ImportError as err:
        raise EdgeAiError("--ray needs Ray, which is not installed", fix=INSTALL_LINE) from err


def connect(config: FleetConfig) -> tuple[ModuleType, bool]:
    """Ray, initialised (a running session is reused); the flag says whether this call started it."""
    os.environ.setdefault(USAGE_STATS_VAR, "0")
    if not config.address:
        os.environ.setdefault(LOCAL_ONLY_VAR, "0")  # read when ray is imported: set it first
    ray = import_ray()
    if ray.is_initialized():
        return ray, False
    if config.address:
        ray.init(address=config.address, log_to_driver=False)
    else:
        ray.init(num_cpus=config.num_cpus or os.cpu_count() or 1, include_dashboard=False,
                 _node_ip_address="127.0.0.1", log_to_driver=False)
    return ray, True


def describe_error(err: BaseException) -> str:
    """One line: the error's type and the last line of its message (Ray wraps remote tracebacks)."""
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    text = lines[-1] if lines else ""
    return f"{type(err).__name__}: {text}"[:300]


class _Progress:
    """One tqdm bar over every frame of the fleet, with bags and tasks done."""

    def __init__(self, tasks: Sequence[FleetTask], enabled: bool) -> None:
        from tqdm import tqdm

        self.left_per_bag: dict[str, int] = {}
        for task in tasks:
            self.left_per_bag[task.bag] = self.left_per_bag.get(task.bag, 0) + 1
        self.bags_done = self.retries = 0
        self.bar = tqdm(total=sum(t.frame_count for t in tasks), unit="frame", desc="replay", file=sys.stderr,
                        disable=not enabled, dynamic_ncols=True, mininterval=0.5)
        self._postfix()

    def _postfix(self) -> None:
        retries = f", {self.retries} retried" if self.retries else ""
        self.bar.set_postfix_str(f"bags {self.bags_done}/{len(self.left_per_bag)}{retries}")

    def retried(self) -> None:
        self.retries += 1
        self._postfix()

    def finished(self, task: FleetTask) -> None:
        self.left_per_bag[task.bag] -= 1
        self.bags_done += self.left_per_bag[task.bag] == 0
        self.bar.update(task.frame_count)
        self._postfix()

    def close(self) -> None:
        self.bar.close()


def run_tasks(tasks: Sequence[FleetTask], player: FramePlayer, config: FleetConfig,
              on_record: Callable[[TaskRecord], TaskRecord] | None = None) -> list[TaskRecord]:
    """Run every task on Ray; records in the order of ``tasks``.

    ``on_record`` sees each record as its task ends; what it returns is kept (it may drop the outputs).
    """
    ray, started = connect(config)
    try:
        return _gather(ray, tasks, player, config, on_record)
    finally:
        if started:
            ray.shutdown()


def _gather(ray: Any, tasks: Sequence[FleetTask], player: FramePlayer, config: FleetConfig,
            on_record: Callable[[TaskRecord], TaskRecord] | None) -> list[TaskRecord]:
    remote = ray.remote(num_cpus=1, max_retries=0)(play_task)  # retries are counted here, per task
    pending: dict[Any, int] = {remote.remote(task, player): i for i, task in enumerate(tasks)}
    attempts = [1] * len(tasks)
    errors: list[list[str]] = [[] for _ in tasks]
    records: list[TaskRecord | None] = [None] * len(tasks)
    progress = _Progress(tasks, config.progress)
    try:
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1)
            i = pending.pop(ready[0])
            outcome: ReplayOutcome | None = None
            try:
                outcome = ray.get(ready[0])
            except ray.exceptions.RayError as err:
                errors[i].append(describe_error(err))
                if attempts[i] <= config.max_retries:
                    attempts[i] += 1
                    progress.retried()
                    pending[remote.remote(tasks[i], player)] = i
                    continue
            record = TaskRecord(task=tasks[i], attempts=attempts[i], errors=tuple(errors[i]), outcome=outcome)
            records[i] = on_record(record) if on_record is not None else record
            progress.finished(tasks[i])
    finally:
        progress.close()
    return [r for r in records if r is not None]
