"""Cross-camera batching: the newest frame of each camera, handed out in batches (no ROS).

Semantics (as a stream muxer: full batch or deadline, whichever first):

- one slot per camera: a newer frame replaces an unprocessed older one (dropped, ``superseded``);
- a batch goes out when ``batch_size`` frames wait, or ``batch_timeout_s`` after the oldest
  waiting frame arrived;
- a frame older than ``max_age_s`` (by receive time) is dropped (``too_old``), never handed out;
- when more frames wait than fit, the batch takes higher priorities first and, among equal
  priorities, the cameras served least recently (round robin); a frame left out waits for the
  next batch, unless its camera's priority is below every camera in the batch: then the engine
  is busy with more important cameras and it is dropped (``shed``).

The clock is injectable, so the tests drive it by hand (:meth:`Batcher.poll`); the pipeline
blocks in :meth:`Batcher.take`.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from edge_ai_ros.errors import ConfigError
from edge_ai_ros.serving.camera_stats import CameraStats

T = TypeVar("T")

_CAMERA_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(/[A-Za-z_][A-Za-z0-9_]*)*$")
MAX_CAMERAS = 64


@dataclass(frozen=True, kw_only=True)
class BatchPolicy:
    """The validated multi-camera parameters (``cameras``, ``camera_priorities``, ...)."""

    cameras: tuple[str, ...]
    priorities: tuple[int, ...] = ()
    max_batch: int = 0  # 0: one slot per camera
    batch_timeout_s: float = 0.01
    max_age_s: float = 0.2

    def __post_init__(self) -> None:
        _check_cameras(self.cameras)
        if self.priorities and len(self.priorities) != len(self.cameras):
            raise ConfigError("camera_priorities", f"has {len(self.priorities)} values for {len(self.cameras)} cameras",
                              fix="give one priority per camera, in the order of cameras, or [] for all equal")
        if self.max_batch < 0:
            raise ConfigError("max_batch", f"must be >= 0, got {self.max_batch}",
                              fix="use 0 (one per camera) or a positive batch size")
        if self.batch_timeout_s < 0:
            raise ConfigError("batch_timeout_ms", f"must be >= 0, got {self.batch_timeout_s * 1e3}",
                              fix="use 0 (send at once) or a few milliseconds")
        if self.max_age_s <= 0:
            raise ConfigError("max_age_ms", f"must be > 0, got {self.max_age_s * 1e3}",
                              fix="use the oldest frame age worth answering, e.g. 200")

    def priority(self, index: int) -> int:
        return self.priorities[index] if self.priorities else 0

    def batch_size(self, engine_limit: int) -> int:
        """Frames per batch: max_batch (0: the number of cameras), capped by what the engine accepts."""
        wanted = self.max_batch or len(self.cameras)
        return max(1, min(wanted, engine_limit))


def _check_cameras(cameras: tuple[str, ...]) -> None:
    if not cameras:
        raise ConfigError("cameras", "is empty", fix="name at least one camera, or run the single-camera node")
    if len(cameras) > MAX_CAMERAS:
        raise ConfigError("cameras", f"has {len(cameras)} names", fix=f"serve at most {MAX_CAMERAS} cameras per node")
    for name in cameras:
        if not _CAMERA_NAME.match(name):
            raise ConfigError("cameras", f"{name!r} is not a relative ROS topic name",
                              fix="use letters, digits and _ (segments split by /), e.g. front or left_wide")
    repeated = sorted({n for n in cameras if cameras.count(n) > 1})
    if repeated:
        raise ConfigError("cameras", f"names {repeated} more than once", fix="name each camera once")


@dataclass(frozen=True, kw_only=True)
class Frame(Generic[T]):
    """One waiting (or handed-out) frame: its camera, the message, when it was received."""

    camera: str
    index: int  # position of the camera in the policy
    item: T
    received: float


class Batcher(Generic[T]):
    """Thread-safe latest-frame slots per camera with full-or-deadline batching."""

    def __init__(self, policy: BatchPolicy, *, batch_size: int, stats: CameraStats | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if batch_size < 1:
            raise ConfigError("max_batch", f"batch size {batch_size} < 1", fix="use a positive batch size")
        self._policy, self._size, self._clock = policy, batch_size, clock
        self._stats = stats if stats is not None else CameraStats(policy.cameras)
        self._index = {name: i for i, name in enumerate(policy.cameras)}
        self._slots: list[Frame[T] | None] = [None] * len(policy.cameras)
        self._served = [0] * len(policy.cameras)  # batch number that last served each camera
        self._batches = 0
        self._cond = threading.Condition()
        self._closed = False

    @property
    def stats(self) -> CameraStats:
        return self._stats

    @property
    def batch_size(self) -> int:
        return self._size

    @property
    def closed(self) -> bool:
        return self._closed

    def put(self, camera: str, item: T) -> None:
        """Offer the newest frame of ``camera`` (an unknown camera is a programming error: KeyError)."""
        index = self._index[camera]
        frame = Frame(camera=camera, index=index, item=item, received=self._clock())
        with self._cond:
            self._stats.count(camera, "received")
            if self._closed:
                return
            if self._slots[index] is not None:
                self._stats.drop(camera, "superseded")
            self._slots[index] = frame
            self._cond.notify_all()

    def poll(self) -> list[Frame[T]] | None:
        """The batch due now, or None (does not wait)."""
        with self._cond:
            return self._poll_locked(self._clock())

    def take(self, timeout_s: float) -> list[Frame[T]] | None:
        """Wait up to ``timeout_s`` for a due batch (None on timeout or once closed)."""
        end = time.monotonic() + timeout_s
        with self._cond:
            while not self._closed:
                now = self._clock()
                batch = self._poll_locked(now)
                if batch:
                    return batch
                left = end - time.monotonic()
                if left <= 0:
                    return None
                due = self._due_in(now)
                self._cond.wait(left if due is None else min(left, max(due, 1e-4)))
            return None

    def clear(self) -> int:
        """Forget waiting frames (on stop); return how many were discarded."""
        with self._cond:
            count = sum(1 for s in self._slots if s is not None)
            self._slots = [None] * len(self._slots)
            return count

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    # ---- inside the lock ------------------------------------------------------------------
    def _due_in(self, now: float) -> float | None:
        """Seconds until the waiting frames form a batch by deadline or age out (None: nothing waits)."""
        waiting = [s for s in self._slots if s is not None]
        if not waiting:
            return None
        oldest = min(s.received for s in waiting)
        return min(oldest + self._policy.batch_timeout_s, oldest + self._policy.max_age_s) - now

    def _poll_locked(self, now: float) -> list[Frame[T]] | None:
        self._expire(now)
        waiting = [s for s in self._slots if s is not None]
        if not waiting:
            return None
        oldest = min(s.received for s in waiting)
        if len(waiting) < self._size and now - oldest < self._policy.batch_timeout_s:
            return None
        waiting.sort(key=lambda s: (-self._policy.priority(s.index), self._served[s.index], s.index))
        batch, left_out = waiting[: self._size], waiting[self._size :]
        self._batches += 1
        lowest = min(self._policy.priority(s.index) for s in batch)
        for frame in batch:
            self._slots[frame.index] = None
            self._served[frame.index] = self._batches
        for frame in left_out:
            if self._policy.priority(frame.index) < lowest:
                self._slots[frame.index] = None
                self._stats.drop(frame.camera, "shed")
        self._stats.batch(len(batch))
        return batch

    def _expire(self, now: float) -> None:
        for i, frame in enumerate(self._slots):
            if frame is not None and now - frame.received > self._policy.max_age_s:
                self._slots[i] = None
                self._stats.drop(frame.camera, "too_old")
