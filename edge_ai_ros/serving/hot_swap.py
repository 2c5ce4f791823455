"""Hot model swap: load the new model beside the serving one, switch between two frames, roll back.

One swap (or rollback) at a time: a second request while one runs is refused with a reason,
not queued (a queued swap would act on a state the caller no longer sees). The new model is
fully loaded, verified (manifest, artifact sha256, backend version and device, engine specs
against manifest and decoder, same task as the node's publishers), tested on a grey frame and
warmed up before ``ModelSlot.replace`` installs it; the worker holds the slot for whole frames,
so each output is answered by exactly one complete model and carries that model's id. Any
failure leaves the old model serving. The old engine is closed right after the switch.

Rollback reloads the previous model from its manifest path instead of keeping it loaded:
memory stays at one engine (two only while a swap loads), which matters for TensorRT engines
on a Jetson; the price is a load (tens of ms for the demo model) and a fresh sha256 check.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from edge_ai_ros.errors import ConfigError, EdgeAiError
from edge_ai_ros.manifest import load_manifest
from edge_ai_ros.pipeline import Perception
from edge_ai_ros.serving.heap import trim_heap
from edge_ai_ros.serving.model_slot import ModelSlot
from edge_ai_ros.serving.output_log import OutputLog, WindowSummary


@dataclass(frozen=True, kw_only=True)
class ServedModel:
    """What is needed to name a serving model and to load it again (rollback)."""

    model_id: str
    manifest_path: str
    backend: str
    task: str


@dataclass(frozen=True, kw_only=True)
class SwapOutcome:
    success: bool
    message: str
    previous_model_id: str = ""
    new_model_id: str = ""
    swap_duration_s: float = 0.0
    max_output_gap_s: float = 0.0


@dataclass(frozen=True, kw_only=True)
class RollbackPolicy:
    """When automatic rollback judges a new model collapsed (thresholds of 0 disable a check)."""

    enabled: bool = False
    window_s: float = 5.0
    min_output_rate_ratio: float = 0.5
    min_mean_confidence: float = 0.0


def collapse_reason(before: WindowSummary, after: WindowSummary, policy: RollbackPolicy) -> str:
    """Why the new model collapsed compared with the old one ("" when it did not, or no frames came)."""
    if after.frames_in == 0:
        return ""
    new_ratio = after.output_ratio or 0.0
    base = before.output_ratio or 1.0
    if policy.min_output_rate_ratio > 0 and new_ratio < policy.min_output_rate_ratio * base:
        return (f"output rate collapsed: {after.frames_out} outputs for {after.frames_in} frames in "
                f"({new_ratio:.0%}; the previous model answered {base:.0%})")
    conf = after.mean_confidence
    if policy.min_mean_confidence > 0 and conf is not None and conf < policy.min_mean_confidence:
        return f"mean confidence {conf:.3f} is below min_mean_confidence {policy.min_mean_confidence:.3f}"
    return ""


@dataclass(frozen=True, kw_only=True)
class _Watch:
    model: ServedModel
    switched_at: float
    before: WindowSummary
    policy: RollbackPolicy


Loader = Callable[[str, str], Perception]
Announcer = Callable[[Perception, ServedModel], None]


class HotSwapper:
    """Swaps the model in ``slot``; the node tells it whether it is serving (active)."""

    def __init__(self, slot: ModelSlot[Perception], log: OutputLog, *, load: Loader, announce: Announcer, logger: Any) -> None:
        self._slot, self._log, self._load, self._announce, self._logger = slot, log, load, announce, logger
        self._busy = threading.Lock()
        self._install = threading.Lock()  # orders the switch against deactivate/cleanup
        self._serving = False
        self.current: ServedModel | None = None
        self.previous: ServedModel | None = None
        self._watch: _Watch | None = None

    def reset(self, current: ServedModel | None) -> None:
        """A new configure (or cleanup): forget the swap history."""
        with self._install:
            self.current, self.previous, self._watch = current, None, None

    def set_serving(self, serving: bool) -> None:
        with self._install:
            self._serving = serving
            if not serving:
                self._watch = None

    @property
    def busy(self) -> bool:
        return self._busy.locked()

    # ---- swap and rollback ------------------------------------------------------------------
    def swap(self, manifest_path: str, backend: str, *, policy: RollbackPolicy, wait_output_s: float) -> SwapOutcome:
        return self._exclusive(lambda t0: self._swap(manifest_path, backend, t0, policy, wait_output_s))

    def rollback(self, reason: str, *, wait_output_s: float) -> SwapOutcome:
        def job(t0: float) -> SwapOutcome:
            target = self.previous
            if target is None:
                return SwapOutcome(success=False, message="no previous model to roll back to (no swap since configure)")
            outcome = self._swap(target.manifest_path, target.backend, t0, RollbackPolicy(), wait_output_s)
            return _with_message(outcome, f"rollback ({reason}): {outcome.message}")

        return self._exclusive(job)

    def check_rollback(self, now: float) -> SwapOutcome | None:
        """Judge the last swap once its window is over; roll back if the new model collapsed."""
        watch = self._watch
        if watch is None or now < watch.switched_at + watch.policy.window_s:
            return None
        self._watch = None
        if self.current != watch.model:
            return None
        end = watch.switched_at + watch.policy.window_s
        after = self._log.summary(watch.model.model_id, watch.switched_at, end)
        reason = collapse_reason(watch.before, after, watch.policy)
        if not reason:
            self._logger.info(f"auto rollback: {watch.model.model_id} kept ({after.frames_out}/{after.frames_in} "
                              f"frames answered, mean confidence {after.mean_confidence})")
            return None
        self._logger.warning(f"auto rollback: {watch.model.model_id}: {reason}")
        return self.rollback(f"auto: {reason}", wait_output_s=1.0)

    def _exclusive(self, job: Callable[[float], SwapOutcome]) -> SwapOutcome:
        t0 = time.monotonic()
        if not self._busy.acquire(blocking=False):
            return SwapOutcome(success=False, message="refused: another swap or rollback is in progress "
                               "(requests are refused, not queued); retry when it has answered")
        try:
            return job(t0)
        finally:
            self._busy.release()

    def _swap(self, path: str, backend: str, t0: float, policy: RollbackPolicy, wait_s: float) -> SwapOutcome:
        current = self.current
        if not self._serving or current is None:
            return SwapOutcome(success=False, message="refused: the node is not active; activate it first "
                               "(the current model is unchanged)")
        try:
            new, served = self._load_checked(path, backend, current)
        except EdgeAiError as err:
            return SwapOutcome(success=False, previous_model_id=current.model_id,
                               message=f"refused: {err}; {current.model_id} keeps serving")
        before = self._log.summary(current.model_id, t0 - policy.window_s, t0)
        with self._install:
            if not self._serving:
                new.close()
                return SwapOutcome(success=False, previous_model_id=current.model_id,
                                   message="refused: the node left the active state during the swap")
            old = self._slot.replace(new)
            switched = time.monotonic()
            self.previous, self.current = current, served
            self._watch = _Watch(model=served, switched_at=switched, before=before, policy=policy) \
                if policy.enabled else None
        if old is not None:
            old.close()
            trim_heap()
        self._announce(new, served)
        return self._report(current, served, t0, switched, wait_s)

    def _load_checked(self, path: str, backend: str, current: ServedModel) -> tuple[Perception, ServedModel]:
        task = load_manifest(path).task  # cheap checks first: missing or malformed manifest, wrong task
        if task != current.task:
            raise ConfigError("task", f"the new model is a {task} model; this node publishes {current.task} results",
                              fix="swap to a model of the same task, or clean up and configure with model_manifest")
        new = self._load(path, backend)
        served = ServedModel(model_id=new.model_id, manifest_path=str(path), backend=new.engine_info.backend,
                             task=new.manifest.task)
        return new, served

    def _report(self, old: ServedModel, new: ServedModel, t0: float, switched: float, wait_s: float) -> SwapOutcome:
        first = self._log.wait_for_output(new.model_id, switched, wait_s)
        gap = self._log.max_gap(t0, first if first is not None else time.monotonic())
        note = "" if first is not None else f"; no output by the new model within {wait_s:.1f} s (no frames coming in?)"
        return SwapOutcome(success=True, message=f"swapped {old.model_id} -> {new.model_id}{note}",
                           previous_model_id=old.model_id, new_model_id=new.model_id,
                           swap_duration_s=switched - t0, max_output_gap_s=gap)


def _with_message(outcome: SwapOutcome, message: str) -> SwapOutcome:
    return SwapOutcome(success=outcome.success, message=message, previous_model_id=outcome.previous_model_id,
                       new_model_id=outcome.new_model_id, swap_duration_s=outcome.swap_duration_s,
                       max_output_gap_s=outcome.max_output_gap_s)
