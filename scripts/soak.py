"""Soak the inference node: 30 Hz frames for N minutes; count answers, sample its RSS and threads.

Run from the repository root like scripts/restart_latency.py (LOCALHOST discovery, a domain of
your own, the shipped Fast DDS profile):

    .venv/bin/python scripts/soak.py --minutes 10 --json soak.json

Frames are 640x480 rgb8 scenes, published best-effort as a camera would; the node drops a frame
only when it is still busy with the previous one (drop_policy latest), so answered/sent also
tells whether it keeps up. RSS and thread count come from /proc/<pid>/status every 10 s.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from pathlib import Path

import rclpy
from rclpy.node import Node
from sensor_msgs.msg import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from edge_ai_ros.msg import DetectionArray  # noqa: E402
from edge_ai_ros.ros.drivers.node_benchmark import BenchConfig, _frame  # noqa: E402
from edge_ai_ros.ros.drivers.node_process import NodeLaunch, start_node, stop_node  # noqa: E402
from edge_ai_ros.ros.environment import apply_ros_env_defaults  # noqa: E402
from edge_ai_ros.ros.qos import image_qos, output_qos  # noqa: E402
from edge_ai_ros.ros.spin_thread import SpinThread  # noqa: E402

NS = "/soak"


class Client(Node):
    def __init__(self, context: rclpy.Context) -> None:
        super().__init__("soak_client", context=context)
        self.pub = self.create_publisher(Image, f"{NS}/image", image_qos(depth=5, reliability="best_effort"))
        self.lock = threading.Lock()
        self.answers = 0
        self.create_subscription(DetectionArray, f"{NS}/detections", self._on_detections, output_qos())

    def _on_detections(self, msg: DetectionArray) -> None:
        with self.lock:
            self.answers += 1


def proc_facts(pid: int) -> dict[str, float]:
    facts = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "Threads"):
            facts[key] = float(value.split()[0])
    return {"rss_mb": round(facts["VmRSS"] / 1024, 1), "threads": facts["Threads"]}


def soak(client: Client, seconds: float, hz: float, pid: int) -> dict[str, object]:
    frame, samples, sent = _frame(BenchConfig()), [], 0
    start = next_sample = time.monotonic()
    while (now := time.monotonic()) - start < seconds:
        if now >= next_sample:
            with client.lock:
                answers = client.answers
            samples.append({"t_s": round(now - start, 1), "sent": sent, "answered": answers,
                            "load1": os.getloadavg()[0]} | proc_facts(pid))
            next_sample += 10.0
        client.pub.publish(frame)
        sent += 1
        time.sleep(max(0.0, start + sent / hz - time.monotonic()))
    time.sleep(1.0)  # the last answers
    with client.lock:
        return {"sent": sent, "answered": client.answers, "samples": samples, "end": proc_facts(pid)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--hz", type=float, default=30.0)
    parser.add_argument("--json", default="")
    parser.add_argument("--log", default="soak_node.log")
    args = parser.parse_args()
    apply_ros_env_defaults()
    context = rclpy.Context()
    rclpy.init(context=context, domain_id=int(os.environ.get("ROS_DOMAIN_ID", "0")))
    client = Client(context)
    spinner = SpinThread(client, kind="events", name="soak_client")
    proc = start_node(NodeLaunch(parameters={"backend": "onnxruntime"}, namespace=NS, log_path=Path(args.log)))
    try:
        deadline = time.monotonic() + 60
        while client.pub.get_subscription_count() == 0 and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(2.0)  # warm-up frames are not counted
        result = soak(client, args.minutes * 60, args.hz, proc.pid)
    finally:
        stop_node(proc)
        spinner.stop()
        client.destroy_node()
        rclpy.try_shutdown(context=context)
    samples = result["samples"]
    assert isinstance(samples, list) and samples
    first, last = samples[0], result["end"]
    print(f"answered {result['answered']}/{result['sent']}; RSS {first['rss_mb']} -> {last['rss_mb']} MB; "
          f"threads {first['threads']} -> {last['threads']}")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
