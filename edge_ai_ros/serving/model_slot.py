"""The serving Perception behind a lock, so a model can be replaced between two frames.

The worker leases the current Perception for exactly one frame; a swap takes the same lock,
so once it holds it no frame is running on the old model, and every frame is answered by a
whole model, never a half-loaded one. Loading and warming the new model happen outside the
lock, beside the serving one (see the hot-swap service).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import Generic, Protocol, TypeVar


class Closable(Protocol):
    def close(self) -> None: ...


M = TypeVar("M", bound=Closable)


class ModelSlot(Generic[M]):
    """Holds one model of type ``M`` (the node's: a Perception); hands it out typed."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._current: M | None = None
        self._frame_done = threading.Condition()
        self._frames = 0

    @contextlib.contextmanager
    def lease(self) -> Iterator[M | None]:
        """Hold the current model for one frame (None when the slot is empty)."""
        try:
            with self._lock:
                yield self._current
        finally:
            with self._frame_done:
                self._frames += 1
                self._frame_done.notify_all()

    def wait_frame_end(self, timeout_s: float) -> bool:
        """Wait until the serving model finishes its next frame (False after ``timeout_s``).

        A swap warms the new model right after a frame ends, in the idle time before the next
        one, so warm-up competes less with serving for the CPU.
        """
        with self._frame_done:
            seen = self._frames
            return self._frame_done.wait_for(lambda: self._frames != seen, timeout=timeout_s)

    def peek(self) -> M | None:
        """The current model without holding it (for info and diagnostics only)."""
        return self._current

    def replace(self, new: M | None) -> M | None:
        """Install ``new`` between two frames and return the previous model (not closed)."""
        with self._lock:
            old, self._current = self._current, new
        return old

    def release(self) -> None:
        """Empty the slot and close what it held."""
        old = self.replace(None)
        if old is not None:
            old.close()
