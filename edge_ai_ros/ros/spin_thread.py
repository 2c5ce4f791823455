"""A node spun on a thread of its own, by rclpy's C++ EventsExecutor where rclpy has one.

Why (``edge-ai-ros bench-node``, docs/inference_node.md): rclpy's SingleThreadedExecutor
rebuilds its wait set and dispatches in Python on every wake-up; the EventsExecutor
(``rclpy.experimental``, Jazzy's rclpy 7.1; Humble has none) waits and dispatches in C++.
Measured here at 30 Hz with 640x480 rgb8 frames: publish -> the node's frame callback
1.42 -> 1.22 ms p50, and the node's detections published -> received by a subscriber spun
the same way 0.57 -> 0.30 ms p50.

Two limits of rclpy 7.1.6's EventsExecutor shape the loop: it refuses nodes that own guard
conditions (it is woken with ``wake()`` instead), and ``shutdown()`` called while another
thread is inside ``spin()`` never returns. So the thread spins in slices until a stop flag
is set, and the executor is shut down only after the thread has been joined.

Entities of the spun node are made and destroyed by the spin thread itself, between two slices
(:meth:`SpinThread.call`): never while the executor waits on them.
"""

from __future__ import annotations

import collections
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from rclpy.executors import Executor, ExternalShutdownException, SingleThreadedExecutor
from rclpy.node import Node

from edge_ai_ros.serving.settings import FRAME_EXECUTORS

# rclpy 7.1.6's EventsExecutor.wake() does not end a spin_once (measured: a call() waited the whole
# 0.5 s slice while no frame came; SingleThreadedExecutor's guard condition ends it at once), so the
# slice bounds how long a stop or a call waits while no frame arrives; 10 idle wake-ups a second cost nothing.
_SLICE_S = 0.1
_STOP_TIMEOUT_S = 5.0
_CALL_TIMEOUT_S = 5.0

T = TypeVar("T")


def events_executor_available() -> bool:
    try:
        from rclpy.experimental.events_executor import EventsExecutor  # noqa: F401
    except ImportError:
        return False
    return True


def make_executor(kind: str, node: Node) -> tuple[Executor, str, Callable[[], None]]:
    """An executor of ``kind`` for ``node``'s context, the kind it really is, and how to wake it.

    "events" falls back to "single" where the installed rclpy has no EventsExecutor.
    """
    if kind not in FRAME_EXECUTORS:
        raise ValueError(f"executor kind {kind!r} is not one of {FRAME_EXECUTORS}")
    if kind == "events" and events_executor_available():
        from rclpy.experimental.events_executor import EventsExecutor

        executor = EventsExecutor(context=node.context)
        return executor, "events", executor.wake
    wake = node.create_guard_condition(lambda: None)  # ends a blocked spin_once
    return SingleThreadedExecutor(context=node.context), "single", wake.trigger


class _Call:
    """One function for the spin thread, run at most once; cancelled if not started in time."""

    def __init__(self, fn: Callable[[], Any]) -> None:
        self._fn, self._lock, self._state = fn, threading.Lock(), "queued"  # queued | running | cancelled
        self.done = threading.Event()
        self.value: Any = None
        self.error: BaseException | None = None

    def cancel(self) -> bool:
        with self._lock:
            if self._state != "queued":
                return False
            self._state = "cancelled"
            return True

    def run(self) -> None:
        with self._lock:
            if self._state != "queued":
                return
            self._state = "running"
        try:
            self.value = self._fn()
        except BaseException as error:  # handed to the caller
            self.error = error
        finally:
            self.done.set()

    def fail(self, error: BaseException) -> None:
        if self.cancel():
            self.error = error
            self.done.set()


class SpinThread:
    """Spins one node on a daemon thread until :meth:`stop` (flag, wake, join, then shutdown)."""

    def __init__(self, node: Node, *, kind: str = "events", name: str = "spin") -> None:
        self._executor, self.kind, self._wake = make_executor(kind, node)
        self._executor.add_node(node)
        self._stop = threading.Event()
        self._calls = collections.deque[_Call]()
        self._thread = threading.Thread(target=self._spin, name=name, daemon=True)
        self._thread.start()

    def call(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` on the spin thread between two slices and return its result (inline when called
        from that thread). For making or destroying the spun node's entities while it is spun. A call
        not started within the timeout is cancelled (it never runs later), and so are calls still
        queued when the thread ends."""
        if self._thread is threading.current_thread():
            return fn()
        if self._stop.is_set() or not self._thread.is_alive():
            raise RuntimeError("the spin thread has stopped")
        call = _Call(fn)
        self._calls.append(call)
        if not self._thread.is_alive():  # it ended meanwhile: nobody will run the call
            call.fail(RuntimeError("the spin thread has stopped"))
        self._wake()
        if not call.done.wait(_CALL_TIMEOUT_S) and call.cancel():
            raise TimeoutError(f"the spin thread did not start the call within {_CALL_TIMEOUT_S:.0f} s "
                               "(a callback blocks it)")
        call.done.wait()  # started before the cancel: it finishes
        if call.error is not None:
            raise call.error
        value: T = call.value
        return value

    def stop(self) -> None:
        """End the loop from inside and join it *before* shutdown: rclpy 7.1's shutdown neither
        waits for a running spin nor returns while one runs (events), and destroying what a
        running spin waits on crashed the process now and then (single)."""
        self._stop.set()
        self._wake()
        if self._thread is not threading.current_thread():
            self._thread.join(_STOP_TIMEOUT_S)
        self._executor.shutdown(timeout_sec=_STOP_TIMEOUT_S)

    def _spin(self) -> None:
        try:
            while not self._stop.is_set():
                while self._calls:
                    self._calls.popleft().run()
                self._executor.spin_once(timeout_sec=_SLICE_S)
        except ExternalShutdownException:  # the context was shut down under us (process exit)
            pass
        finally:
            while self._calls:  # nobody will run them: their callers are told at once
                self._calls.popleft().fail(RuntimeError("the spin thread has stopped"))
