"""Restart the inference node N times under 30 Hz frames; time start -> active -> matched -> first answer.

Run from the repository root with the venv's Python, LOCALHOST discovery, a domain of your own
and the shipped Fast DDS profile (as ``make`` sets them):

    ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST ROS_DOMAIN_ID=85 \
    FASTDDS_DEFAULT_PROFILES_FILE=$PWD/config/fastdds_profile.xml \
    .venv/bin/python scripts/restart_latency.py --restarts 20 --json restart_latency.json

Per restart it records, from the moment the node process is started: when /diagnostics first
says "active", when the node's image subscription is matched by this publisher (DDS discovery),
and when its first detections arrive. The warm cache is the shipped demo detector (ONNX Runtime).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import threading
import time
from pathlib import Path

import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.node import Node
from sensor_msgs.msg import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from edge_ai_ros.msg import DetectionArray  # noqa: E402
from edge_ai_ros.ros.drivers.node_benchmark import BenchConfig, _frame  # noqa: E402
from edge_ai_ros.ros.drivers.node_process import NodeLaunch, start_node, stop_node  # noqa: E402
from edge_ai_ros.ros.environment import apply_ros_env_defaults  # noqa: E402
from edge_ai_ros.ros.qos import image_qos, output_qos  # noqa: E402
from edge_ai_ros.ros.spin_thread import SpinThread  # noqa: E402

NS = "/restart"


class Client(Node):
    def __init__(self, context: rclpy.Context) -> None:
        super().__init__("restart_client", context=context)
        self.pub = self.create_publisher(Image, f"{NS}/image", image_qos(depth=5, reliability="best_effort"))
        self.lock = threading.Lock()
        self.first_answer = 0.0
        self.active = 0.0
        self.create_subscription(DetectionArray, f"{NS}/detections", self._on_detections, output_qos())
        self.create_subscription(DiagnosticArray, "/diagnostics", self._on_diagnostics, 10)

    def _on_detections(self, msg: DetectionArray) -> None:
        with self.lock:
            self.first_answer = self.first_answer or time.monotonic()

    def _on_diagnostics(self, msg: DiagnosticArray) -> None:
        for status in msg.status:
            if status.name.startswith(NS) and any(kv.key == "state" and kv.value == "active" for kv in status.values):
                with self.lock:
                    self.active = self.active or time.monotonic()


def _logged_at(log: Path, word: str, start_wall: float) -> float:
    """Seconds from start to the node's own log line '<word>: ...' (its ROS log stamp), or -1."""
    found = re.search(rf"\[(\d+\.\d+)\] \[[^\]]+\]: {word}:", log.read_text(errors="replace"))
    return round(float(found.group(1)) - start_wall, 3) if found else -1.0


def one_restart(client: Client, frame: Image, timeout_s: float, log: Path) -> dict[str, float]:
    with client.lock:
        client.first_answer = client.active = 0.0
    start, start_wall = time.monotonic(), time.time()
    proc = start_node(NodeLaunch(parameters={"backend": "onnxruntime", "diagnostics_period_s": 0.1},
                                 namespace=NS, log_path=log))
    matched = 0.0
    try:
        while time.monotonic() - start < timeout_s:
            matched = matched or (time.monotonic() if client.pub.get_subscription_count() > 0 else 0.0)
            client.pub.publish(frame)
            with client.lock:
                if client.first_answer:
                    break
            time.sleep(1 / 30)
    finally:
        stop_node(proc)
    with client.lock:
        row = {k: round(v - start, 3) if v else -1.0 for k, v in
               (("active_diag_s", client.active), ("matched_s", matched), ("first_answer_s", client.first_answer))}
    return {"configured_s": _logged_at(log, "configured", start_wall),
            "active_s": _logged_at(log, "active", start_wall)} | row


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--restarts", type=int, default=20)
    parser.add_argument("--timeout-s", type=float, default=20.0)
    parser.add_argument("--json", default="")
    parser.add_argument("--log-dir", default=".")
    args = parser.parse_args()
    apply_ros_env_defaults()
    context = rclpy.Context()
    rclpy.init(context=context, domain_id=int(os.environ.get("ROS_DOMAIN_ID", "0")))
    client = Client(context)
    spinner = SpinThread(client, kind="events", name="restart_client")
    frame = _frame(BenchConfig())
    runs = []
    try:
        for i in range(args.restarts):
            load = os.getloadavg()[0]
            row = one_restart(client, frame, args.timeout_s, Path(args.log_dir) / f"restart_{i}.log") | {"load1": load}
            runs.append(row)
            print(json.dumps(row), flush=True)
    finally:
        spinner.stop()
        client.destroy_node()
        rclpy.try_shutdown(context=context)
    within = sum(1 for r in runs if 0 <= r["first_answer_s"] <= 2.0)
    summary = {"restarts": len(runs), "first_answer_within_2s": within, "runs": runs}
    print(f"first answer within 2 s of start: {within}/{len(runs)}")
    if args.json:
        Path(args.json).write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
