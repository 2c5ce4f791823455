"""``transport_echo``: a bare rclpy node that answers each image at once, the transport baseline.

Why: the node's overhead target is stated against what rclpy-to-rclpy transport of a camera
frame costs on the same host. This node does nothing but what any subscriber must do (take
and deserialise the frame) and replies with a frame_timings record (callback time, then the
reply's publish time), so a benchmark measures publish -> callback and the round trip of the
same frames, in the same run and with the same Fast DDS profile and QoS as the inference
node. It takes frames exactly as the inference node does (ros/frame_intake.py, parameter
``frame_executor``), so the baseline moves with the node's own intake.

    python -m edge_ai_ros.ros.drivers.transport_echo --ros-args -r __ns:=/bench_echo
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from rclpy.node import Node
from sensor_msgs.msg import Image
from std_msgs.msg import Float64MultiArray

from edge_ai_ros.ros import frame_timings
from edge_ai_ros.ros.frame_intake import FrameIntake, FrameTopic
from edge_ai_ros.ros.node_main import spin_node
from edge_ai_ros.ros.qos import image_qos, output_qos


class TransportEcho(Node):
    def __init__(self, **kwargs: object) -> None:
        super().__init__("transport_echo", start_parameter_services=False, enable_rosout=False,
                         **kwargs)  # type: ignore[arg-type]
        kind = str(self.declare_parameter("frame_executor", "events").value)
        self._reply = self.create_publisher(Float64MultiArray, "frame_timings", output_qos())
        self.intake = FrameIntake(self, [FrameTopic(msg_type=Image, name="image", callback=self._on_image)],
                                  image_qos(depth=5, reliability="best_effort"), executor=kind)
        self.get_logger().info(f"echoing {self.intake.topic_names} (frame executor {self.intake.executor_kind})")

    def _on_image(self, msg: Image) -> None:
        t = frame_timings.now()
        self._reply.publish(frame_timings.to_msg(frame_timings.FrameTimes(
            stamp_sec=msg.header.stamp.sec, stamp_nanosec=msg.header.stamp.nanosec, callback=t, dequeued=t,
            converted=t, preprocess_s=0.0, inference_s=0.0, postprocess_s=0.0, ran=t, published=t)))


def main(args: Sequence[str] | None = None) -> int:
    return spin_node(TransportEcho, args, before_destroy=lambda node: node.intake.close())  # type: ignore[attr-defined]

if __name__ == "__main__":
    sys.exit(main())
