"""Test side of the inference-node tests: one rclpy node that publishes frames and listens.

The inference node runs in its own process (edge_ai_ros.ros.drivers.node_process); this harness
spins in a background thread of the test process and offers condition waits with timeouts.
"""

from __future__ import annotations

import array
import threading
import time
from collections.abc import Callable
from typing import Any

import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from lifecycle_msgs.msg import Transition
from lifecycle_msgs.srv import ChangeState, GetState
from rcl_interfaces.msg import Parameter as ParameterMsg
from rcl_interfaces.msg import SetParametersResult
from rcl_interfaces.srv import SetParameters
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.parameter import Parameter
from sensor_msgs.msg import CompressedImage, Image
from std_msgs.msg import Header

from edge_ai_ros.imaging.raw import RawImage
from edge_ai_ros.msg import DetectionArray
from edge_ai_ros.ros.qos import image_qos, output_qos

TIMEOUT_S = 15.0


def wait_for(condition: Callable[[], Any], timeout_s: float = TIMEOUT_S, poll_s: float = 0.01) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(poll_s)
    raise AssertionError(f"condition not met within {timeout_s} s: {condition}")


def image_msg(raw: RawImage, header: Header) -> Image:
    return Image(header=header, encoding=raw.encoding, width=raw.width, height=raw.height, step=raw.step,
                 is_bigendian=raw.is_bigendian, data=array.array("B", raw.data))


def header(stamp_ns: int, frame_id: str = "camera") -> Header:
    out = Header(frame_id=frame_id)
    out.stamp.sec, out.stamp.nanosec = divmod(stamp_ns, 1_000_000_000)
    return out


def stamp_ns(msg_header: Header) -> int:
    return msg_header.stamp.sec * 1_000_000_000 + msg_header.stamp.nanosec


class Harness:
    """Publishers, subscriptions and service clients against one node's topics."""

    def __init__(self, context: Any) -> None:
        self.node = Node("inference_node_test", context=context)
        self.executor = SingleThreadedExecutor(context=context)
        self.executor.add_node(self.node)
        self._lock = threading.Lock()
        self.detections: dict[str, list[DetectionArray]] = {}
        self.diagnostics: dict[str, list[dict[str, str]]] = {}
        self._pubs: dict[str, Any] = {}
        self._subs: list[Any] = []
        self._thread = threading.Thread(target=self.executor.spin, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self.executor.shutdown()
        self._thread.join(5.0)
        self.node.destroy_node()

    # ---- topics ----------------------------------------------------------------------------
    def publisher(self, topic: str, compressed: bool = False) -> Any:
        if topic not in self._pubs:
            msg_type = CompressedImage if compressed else Image
            self._pubs[topic] = self.node.create_publisher(msg_type, topic, image_qos(depth=5, reliability="best_effort"))
        return self._pubs[topic]

    def listen_detections(self, topic: str) -> None:
        self.detections.setdefault(topic, [])

        def keep(msg: DetectionArray) -> None:
            with self._lock:
                self.detections[topic].append(msg)

        self._subs.append(self.node.create_subscription(DetectionArray, topic, keep, output_qos()))

    def listen_diagnostics(self) -> None:
        def keep(msg: DiagnosticArray) -> None:
            with self._lock:
                for status in msg.status:
                    values = {kv.key: kv.value for kv in status.values}
                    values["_level"], values["_message"] = str(int.from_bytes(status.level, "little")), status.message
                    self.diagnostics.setdefault(status.name, []).append(values)

        self._subs.append(self.node.create_subscription(DiagnosticArray, "/diagnostics", keep, 50))

    def answer(self, topic: str, stamp: int) -> DetectionArray | None:
        with self._lock:
            return next((m for m in self.detections.get(topic, []) if stamp_ns(m.header) == stamp), None)

    def received(self, topic: str) -> list[DetectionArray]:
        """A copy of everything received on ``topic`` so far (listen_detections first)."""
        with self._lock:
            return list(self.detections.get(topic, []))

    def latest_diagnostics(self, name: str) -> dict[str, str] | None:
        with self._lock:
            items = self.diagnostics.get(name, [])
            return items[-1] if items else None

    def send_until_answered(self, image_topic: str, msg: Any, out_topic: str, timeout_s: float = TIMEOUT_S) -> DetectionArray:
        """Publish ``msg`` every 0.3 s (best effort may lose one) until its answer arrives."""
        pub = self.publisher(image_topic, compressed=isinstance(msg, CompressedImage))
        wait_for(lambda: pub.get_subscription_count() > 0, timeout_s)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            pub.publish(msg)
            try:
                return wait_for(lambda: self.answer(out_topic, stamp_ns(msg.header)), 0.3)
            except AssertionError:
                continue
        raise AssertionError(f"no answer on {out_topic} for the frame sent on {image_topic}")

    # ---- services --------------------------------------------------------------------------
    def _call(self, srv_type: Any, name: str, request: Any, timeout_s: float = TIMEOUT_S) -> Any:
        client = self.node.create_client(srv_type, name)
        try:
            if not client.wait_for_service(timeout_sec=timeout_s):
                raise AssertionError(f"service {name} not available")
            future = client.call_async(request)
            wait_for(future.done, timeout_s)
            return future.result()
        finally:
            self.node.destroy_client(client)

    def call(self, srv_type: Any, name: str, request: Any, timeout_s: float = TIMEOUT_S) -> Any:
        """Call any service and wait for its answer (fails the test on a timeout)."""
        return self._call(srv_type, name, request, timeout_s)

    def get_state(self, node: str) -> str:
        return str(self._call(GetState, f"{node}/get_state", GetState.Request()).current_state.label)

    def change_state(self, node: str, transition_id: int = 0, label: str = "") -> bool:
        request = ChangeState.Request(transition=Transition(id=transition_id, label=label))
        return bool(self._call(ChangeState, f"{node}/change_state", request).success)

    def set_parameter(self, node: str, name: str, value: Any) -> SetParametersResult:
        msg: ParameterMsg = Parameter(name, value=value).to_parameter_msg()
        return self._call(SetParameters, f"{node}/set_parameters", SetParameters.Request(parameters=[msg])).results[0]


def init_context(domain_id: int) -> Any:
    context = rclpy.Context()
    rclpy.init(context=context, domain_id=domain_id)
    return context
