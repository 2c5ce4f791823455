"""Hand-off of incoming frames from subscription callbacks to the single worker thread.

Two policies. ``latest`` (cameras): one slot; a new frame replaces an unprocessed one, which
is counted as dropped, so the node always works on the newest frame and never queues.
``none`` (replay regression): every frame in arrival order through a bounded queue; a full
queue blocks the callback (backpressure into the DDS history) for up to ``put_timeout_s``,
after which the frame is counted as dropped rather than silently lost.
"""

from __future__ import annotations

import collections
import threading
from typing import Generic, TypeVar

from edge_ai_ros.errors import ConfigError

T = TypeVar("T")


class FrameQueue(Generic[T]):
    def __init__(self, *, policy: str, capacity: int, put_timeout_s: float = 1.0) -> None:
        if policy not in ("latest", "none"):
            raise ConfigError("drop_policy", f"{policy!r} is not latest or none", fix="use latest or none")
        if capacity < 1:
            raise ConfigError("queue_size", f"must be >= 1, got {capacity}", fix="use a positive size")
        self._capacity = 1 if policy == "latest" else capacity
        self._replace = policy == "latest"
        self._put_timeout_s = put_timeout_s
        self._items: collections.deque[T] = collections.deque()
        self._cond = threading.Condition()
        self._closed = False

    def put(self, item: T) -> int:
        """Offer a frame; return how many frames were dropped because of it (0 or 1)."""
        with self._cond:
            if self._closed:
                return 1
            dropped = 0
            if len(self._items) >= self._capacity:
                if self._replace:
                    self._items.popleft()
                    dropped = 1
                elif not self._cond.wait_for(self._has_room, timeout=self._put_timeout_s) or self._closed:
                    return 1
            self._items.append(item)
            self._cond.notify_all()
            return dropped

    def get(self, timeout_s: float) -> T | None:
        """The next frame, or None after ``timeout_s`` or once closed."""
        with self._cond:
            if not self._cond.wait_for(lambda: self._items or self._closed, timeout=timeout_s):
                return None
            if not self._items:
                return None
            item = self._items.popleft()
            self._cond.notify_all()
            return item

    def clear(self) -> int:
        """Forget waiting frames (on deactivate); return how many were discarded."""
        with self._cond:
            count = len(self._items)
            self._items.clear()
            self._cond.notify_all()
            return count

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    @property
    def closed(self) -> bool:
        return self._closed

    def __len__(self) -> int:
        with self._cond:
            return len(self._items)

    def _has_room(self) -> bool:
        return self._closed or len(self._items) < self._capacity
