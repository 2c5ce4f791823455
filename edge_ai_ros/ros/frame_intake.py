"""Image subscriptions on a small helper node spun on its own thread (ros/spin_thread.py).

Why (measured with ``edge-ai-ros bench-node``, docs/inference_node.md): the inference node
must stay responsive to swaps, lifecycle and parameter requests while a model loads, so it
is spun by a MultiThreadedExecutor. In rclpy that executor rebuilds a wait set over every
entity of the node (about 20: lifecycle, parameter and swap services, timers) in Python on
each wake-up and hands each callback to a pool thread; both compete for the GIL with the
thread that takes the 900 KB frame, which put a 5 ms GIL switch interval into many frames'
latency. Here the frames are taken by a thread that waits on nothing but the two image
subscriptions and runs the callback itself, by rclpy's C++ EventsExecutor where rclpy has
one (parameter ``frame_executor``).

The helper node is ``<node>_frames`` in the node's namespace. It ignores the process's
command-line arguments (``-r __node:=x`` would otherwise give it the node's name) and
subscribes to the topic names resolved by the main node, so remaps and namespaces apply.
Subscriptions can be added and removed while frames flow (:meth:`FrameIntake.call`): the
spin thread does it between two waits.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from rclpy.event_handler import SubscriptionEventCallbacks
from rclpy.node import Node
from rclpy.qos import QoSProfile
from rclpy.subscription import Subscription

from edge_ai_ros.ros.spin_thread import SpinThread

T = TypeVar("T")


@dataclass(frozen=True, kw_only=True)
class FrameTopic:
    msg_type: type
    name: str  # relative to the main node (resolved by it)
    callback: Callable[[Any], None]
    qos: QoSProfile | None = None  # None: the intake's qos
    events: SubscriptionEventCallbacks | None = None  # e.g. message_lost (ros/input_qos.py)


class FrameIntake:
    """Own executor thread and helper node for the image subscriptions of one activation."""

    def __init__(self, parent: Node, topics: Sequence[FrameTopic], qos: QoSProfile, *,
                 executor: str = "events") -> None:
        self._node = Node(f"{parent.get_name()}_frames", namespace=parent.get_namespace(), context=parent.context,
                          use_global_arguments=False, start_parameter_services=False,
                          enable_rosout=False)
        self._resolve, self._qos = parent.resolve_topic_name, qos
        self.subscriptions = [self.create(topic) for topic in topics]  # as made, in the order of ``topics``
        self._spinner = SpinThread(self._node, kind=executor, name="frame_intake")
        self._closing = threading.Lock()  # publisher_count (diagnostics thread) vs close(): never a destroyed handle
        self._closed = False

    def call(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` on the frame thread between two waits, where :meth:`create` and :meth:`destroy`
        may change the subscriptions while frames flow; it runs serially with the frame callbacks."""
        with self._closing:  # publisher_count (diagnostics thread) never reads a destroyed handle
            if self._closed:
                raise RuntimeError("the frame intake is closed")
            return self._spinner.call(fn)

    def create(self, topic: FrameTopic) -> Subscription:
        """One more subscription (made by the constructor, or inside :meth:`call`)."""
        return self._node.create_subscription(topic.msg_type, self._resolve(topic.name), topic.callback,
                                              topic.qos or self._qos, event_callbacks=topic.events)

    def destroy(self, subscription: Subscription) -> None:
        """Destroy one subscription (inside :meth:`call`)."""
        self._node.destroy_subscription(subscription)

    @property
    def topic_names(self) -> list[str]:
        return list(dict.fromkeys(sub.topic_name for sub in self._node.subscriptions))

    @property
    def publisher_count(self) -> int:
        """Publishers matched to the image subscriptions: 0 means no frame can arrive yet (discovery).

        -1 once closed."""
        with self._closing:
            if self._closed:
                return -1
            matched: dict[str, int] = {}  # per topic: while one is re-made, two subscriptions see one publisher
            for sub in list(self._node.subscriptions):
                matched[sub.topic_name] = max(matched.get(sub.topic_name, 0), sub.get_publisher_count())
            return sum(matched.values())

    @property
    def executor_kind(self) -> str:
        """The executor really used: "events" falls back to "single" without rclpy's EventsExecutor."""
        return self._spinner.kind

    def close(self) -> None:
        """Stop taking frames (the spin thread is joined first: spin_thread.py), then destroy the node."""
        with self._closing:
            self._closed = True
        self._spinner.stop()
        self._node.destroy_node()
