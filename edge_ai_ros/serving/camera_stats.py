"""Per-camera counters of a multi-camera node, and its batch sizes (thread-safe, no ROS types).

Each camera counts frames ``received`` and ``answered`` and frames dropped by reason:
``superseded`` (a newer frame of the same camera came first), ``too_old`` (older than
max_age_ms), ``shed`` (left out for higher-priority cameras), ``bad_frame`` (the frame could
not be converted: encoding, size, corrupt JPEG), ``failed`` (the engine or decoder failed).
"""

from __future__ import annotations

import collections
import threading
from collections.abc import Sequence
from dataclasses import dataclass

DROP_REASONS = ("superseded", "too_old", "shed", "bad_frame", "failed")
COUNTS = ("received", "answered", *(f"dropped_{r}" for r in DROP_REASONS))


@dataclass(frozen=True, kw_only=True)
class BatchSizes:
    batches: int
    mean: float  # over the window
    max: int  # over the window


class CameraStats:
    def __init__(self, cameras: Sequence[str], window: int = 300) -> None:
        self._lock = threading.Lock()
        self._counts = {name: collections.Counter[str]() for name in cameras}
        self._sizes = collections.deque[int](maxlen=window)
        self._batches = 0

    @property
    def cameras(self) -> tuple[str, ...]:
        return tuple(self._counts)

    def count(self, camera: str, name: str, n: int = 1) -> None:
        with self._lock:
            self._counts[camera][name] += n

    def drop(self, camera: str, reason: str) -> None:
        if reason not in DROP_REASONS:
            raise ValueError(f"unknown drop reason {reason!r}")  # a programming error, not input
        self.count(camera, f"dropped_{reason}")

    def batch(self, size: int) -> None:
        with self._lock:
            self._batches += 1
            self._sizes.append(size)

    def snapshot(self) -> dict[str, dict[str, int]]:
        """camera -> every name of COUNTS -> count so far."""
        with self._lock:
            return {camera: {name: counts.get(name, 0) for name in COUNTS} for camera, counts in self._counts.items()}

    def batch_sizes(self) -> BatchSizes:
        with self._lock:
            sizes = list(self._sizes)
            batches = self._batches
        return BatchSizes(batches=batches, mean=sum(sizes) / len(sizes) if sizes else 0.0,
                          max=max(sizes, default=0))
