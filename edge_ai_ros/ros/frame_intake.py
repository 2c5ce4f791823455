"""Image subscriptions on a small helper node spun by its own SingleThreadedExecutor thread.

Why (measured with ``edge-ai-ros bench-node``, docs/inference_node.md): the inference node
must stay responsive to swaps, lifecycle and parameter requests while a model loads, so it
is spun by a MultiThreadedExecutor. In rclpy that executor rebuilds a wait set over every
entity of the node (about 20: lifecycle, parameter and swap services, timers) in Python on
each wake-up and hands each callback to a pool thread; both compete for the GIL with the
thread that takes the 900 KB frame, which put a 5 ms GIL switch interval into many frames'
latency. Here the frames are taken by a thread that waits on nothing but the two image
subscriptions and runs the callback itself, like a bare rclpy subscriber.

The helper node is ``<node>_frames`` in the node's namespace. It ignores the process's
command-line arguments (``-r __node:=x`` would otherwise give it the node's name) and
subscribes to the topic names resolved by the main node, so remaps and namespaces apply.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.node import Node
from rclpy.qos import QoSProfile

_STOP_TIMEOUT_S = 5.0


@dataclass(frozen=True, kw_only=True)
class FrameTopic:
    msg_type: type
    name: str  # relative to the main node (resolved by it)
    callback: Callable[[Any], None]


class FrameIntake:
    """Own executor thread and helper node for the image subscriptions of one activation."""

    def __init__(self, parent: Node, topics: Sequence[FrameTopic], qos: QoSProfile) -> None:
        self._node = Node(f"{parent.get_name()}_frames", namespace=parent.get_namespace(), context=parent.context,
                          use_global_arguments=False, start_parameter_services=False,
                          enable_rosout=False)
        for topic in topics:
            self._node.create_subscription(topic.msg_type, parent.resolve_topic_name(topic.name), topic.callback, qos)
        self._stop = threading.Event()
        self._wake = self._node.create_guard_condition(lambda: None)  # ends a blocked spin_once
        self._executor = SingleThreadedExecutor(context=parent.context)
        self._executor.add_node(self._node)
        self._thread = threading.Thread(target=self._spin, name="frame_intake", daemon=True)
        self._thread.start()

    @property
    def topic_names(self) -> list[str]:
        return [sub.topic_name for sub in self._node.subscriptions]

    def close(self) -> None:
        """Stop taking frames: end the spin loop, join its thread, then shut down and destroy.

        The loop is ended from inside (flag + guard condition) and joined *before*
        ``executor.shutdown()``: rclpy 7.1's shutdown does not wait for a running spin and
        destroys the guard conditions that spin is waiting on, which crashed the process
        (SIGSEGV) now and then when the node was stopped while frames were flowing.
        """
        self._stop.set()
        self._wake.trigger()
        if self._thread is not threading.current_thread():
            self._thread.join(_STOP_TIMEOUT_S)
        self._executor.shutdown(timeout_sec=_STOP_TIMEOUT_S)
        self._node.destroy_node()

    def _spin(self) -> None:
        try:
            while not self._stop.is_set():
                self._executor.spin_once()
        except ExternalShutdownException:  # the context was shut down under us (process exit)
            pass
