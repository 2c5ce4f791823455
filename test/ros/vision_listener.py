"""Child process of test_vision_msgs: send one frame, print both answers to it as JSON.

Runs apart from pytest because vision_msgs may exist only in a prefix this process was
started with (see vision_msgs_build.py). Usage: vision_listener.py NAMESPACE STAMP_NS
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

import numpy as np
import rclpy
import vision_msgs.msg as vision
from node_harness import header, image_msg  # this script's folder is sys.path[0]
from rclpy.node import Node
from sensor_msgs.msg import Image

from edge_ai_ros.imaging.raw import encode_raw
from edge_ai_ros.msg import DetectionArray
from edge_ai_ros.ros.environment import apply_ros_env_defaults
from edge_ai_ros.ros.qos import image_qos, output_qos
from edge_ai_ros.ros.spin_thread import SpinThread

TIMEOUT_S = 30.0


def _scene() -> np.ndarray:
    rng = np.random.default_rng(7)
    rgb = rng.integers(0, 255, (480, 640, 3), dtype=np.uint8)
    rgb[..., 0] //= 3
    return rgb


def _stamp(msg: Any) -> int:
    return int(msg.header.stamp.sec) * 1_000_000_000 + int(msg.header.stamp.nanosec)


def main(namespace: str, stamp_ns: int) -> int:
    apply_ros_env_defaults()
    rclpy.init()
    node = Node("vision_listener", namespace=namespace)
    got: dict[str, Any] = {}
    node.create_subscription(DetectionArray, "detections",
                             lambda m: got.setdefault("detections", m) if _stamp(m) == stamp_ns else None, output_qos())
    node.create_subscription(vision.Detection2DArray, "detections_vision",
                             lambda m: got.setdefault("vision", m) if _stamp(m) == stamp_ns else None, output_qos())
    pub = node.create_publisher(Image, "image", image_qos(depth=5, reliability="best_effort"))
    spinner = SpinThread(node, kind="single", name="vision_listener")
    frame = image_msg(encode_raw(_scene(), "rgb8"), header(stamp_ns, frame_id="cam_vision"))
    deadline = time.monotonic() + TIMEOUT_S
    while len(got) < 2 and time.monotonic() < deadline:
        pub.publish(frame)  # best effort: resend until both answers are in
        time.sleep(0.3)
    spinner.stop()
    if len(got) < 2:
        print(json.dumps({"error": f"answers received: {sorted(got)}"}))
        return 1
    det, vis = got["detections"], got["vision"]
    print(json.dumps({
        "detections": [[d.class_id, d.label, d.score, d.x_min, d.y_min, d.x_max, d.y_max] for d in det.detections],
        "vision_header": [_stamp(vis), vis.header.frame_id],
        "vision": [{"id": d.id, "frame_id": d.header.frame_id, "center": [d.bbox.center.position.x, d.bbox.center.position.y],
                    "theta": d.bbox.center.theta, "size": [d.bbox.size_x, d.bbox.size_y],
                    "results": [[r.hypothesis.class_id, r.hypothesis.score] for r in d.results]}
                   for d in vis.detections],
    }))
    node.destroy_node()
    rclpy.try_shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], int(sys.argv[2])))
