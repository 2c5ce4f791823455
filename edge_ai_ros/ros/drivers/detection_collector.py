"""A subscriber that keeps every DetectionArray it receives, with its arrival time.

The runner and the demo use it to measure end-to-end latency (arrival minus the image
stamp, one clock in one process) and to draw and score what the node produced. It also
keeps the inference node's latest /diagnostics values (engine time percentiles).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from diagnostic_msgs.msg import DiagnosticArray
from rclpy.node import Node

from edge_ai_ros.results import Detection
from edge_ai_ros.ros.conversions import stamp_ns
from edge_ai_ros.ros.qos import output_qos


@dataclass(frozen=True, kw_only=True)
class ReceivedDetections:
    """One DetectionArray as plain data."""

    stamp_ns: int
    received_ns: int
    frame_id: str
    model_id: str
    detections: tuple[Detection, ...]

    @property
    def latency_s(self) -> float:
        return (self.received_ns - self.stamp_ns) / 1e9


def detection_array_type() -> type:
    from edge_ai_ros.msg import DetectionArray  # generated interfaces load on use

    message: type = DetectionArray
    return message


def _as_received(msg: Any, received_ns: int) -> ReceivedDetections:
    stamp = msg.header.stamp
    dets = tuple(Detection(class_id=int(d.class_id), label=str(d.label), score=float(d.score),
                           box=(float(d.x_min), float(d.y_min), float(d.x_max), float(d.y_max)))
                 for d in msg.detections)
    return ReceivedDetections(stamp_ns=stamp_ns(stamp), received_ns=received_ns,
                              frame_id=str(msg.header.frame_id), model_id=str(msg.model_id), detections=dets)


class DetectionCollector(Node):
    """Subscribes ``detections`` (relative: same namespace as the node) and ``/diagnostics``."""

    def __init__(self, *, namespace: str = "", watch_node: str = "inference_node", **kwargs: Any) -> None:
        super().__init__("detection_collector", namespace=namespace, **kwargs)
        self._lock = threading.Lock()
        self._received: list[ReceivedDetections] = []
        self._diagnostics: dict[str, str] = {}
        self._watch = watch_node
        self.create_subscription(detection_array_type(), "detections", self._on_detections, output_qos(depth=100))
        self.create_subscription(DiagnosticArray, "/diagnostics", self._on_diagnostics, 10)

    def _on_detections(self, msg: Any) -> None:
        item = _as_received(msg, self.get_clock().now().nanoseconds)
        with self._lock:
            self._received.append(item)

    def _on_diagnostics(self, msg: DiagnosticArray) -> None:
        for status in msg.status:
            # the node publishes its serving status and a per-input status ("<node>/inputs"); their
            # keys differ, so both are kept
            if status.hardware_id == self._watch or status.name.endswith(f"/{self._watch}"):
                with self._lock:
                    self._diagnostics.update({kv.key: kv.value for kv in status.values})

    @property
    def received(self) -> list[ReceivedDetections]:
        with self._lock:
            return list(self._received)

    @property
    def count(self) -> int:
        with self._lock:
            return len(self._received)

    @property
    def diagnostics(self) -> dict[str, str]:
        with self._lock:
            return dict(self._diagnostics)
