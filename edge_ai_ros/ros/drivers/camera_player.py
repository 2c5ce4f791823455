"""Plays synthetic camera frames on N image topics from its own process, run by run, on command.

The multi-camera benchmark (ros/drivers/camera_scaling_bench.py) drives it over stdin/stdout,
one JSON object a line, so one player serves a whole case without rediscovery between runs:

    -> {"ready": true, "topics": [...]}          once every topic has a subscriber
    <- {"hz": 30, "duration_s": 5}               play a run: every topic at hz, for duration_s
    -> {"sent": {topic: [stamp_ns, ...]}, "elapsed_s": 5.01}
    <- {"quit": true}

Frames are rendered road scenes (one per camera), 640x480 rgb8 by default, published best
effort (keep last 5) as a camera driver does. The cameras tick together, like hardware-
triggered cameras: at each tick every topic gets a frame. Header stamps are CLOCK_REALTIME
ns, unique per camera, so the benchmark matches answers to frames on one host.

    python -m edge_ai_ros.ros.drivers.camera_player --topics /cam0/image_raw,/cam1/image_raw
"""

from __future__ import annotations

import argparse
import array
import json
import sys
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import rclpy
from rclpy.node import Node
from rclpy.publisher import Publisher
from sensor_msgs.msg import Image
from std_msgs.msg import Header

from edge_ai_ros.ros.environment import apply_ros_env_defaults
from edge_ai_ros.ros.qos import image_qos


def scene_frame(width: int, height: int, seed: int) -> Image:
    """A rendered demo road scene as an rgb8 Image (random pixels where the demo scenes are not installed)."""
    rng = np.random.default_rng(seed)
    try:
        from edge_ai_ros.demo.scene import render, sample_world

        rgb = render(sample_world(rng, width, height), rng).image
    except (ImportError, TypeError):
        rgb = rng.integers(0, 255, (height, width, 3), dtype=np.uint8)
    data = np.ascontiguousarray(rgb, dtype=np.uint8).tobytes()
    return Image(header=Header(frame_id=f"camera_{seed}"), height=height, width=width, encoding="rgb8",
                 is_bigendian=0, step=width * 3, data=array.array("B", data))


def _emit(payload: dict[str, Any]) -> None:
    print(json.dumps(payload), flush=True)


class Player:
    def __init__(self, node: Node, topics: Sequence[str], width: int, height: int) -> None:
        qos = image_qos(depth=5, reliability="best_effort")
        self.topics = list(topics)
        self.pubs: list[Publisher] = [node.create_publisher(Image, t, qos) for t in self.topics]
        self.frames = [scene_frame(width, height, seed) for seed in range(len(self.topics))]
        self._count = 0

    def matched(self) -> bool:
        return all(p.get_subscription_count() > 0 for p in self.pubs)

    def play(self, hz: float, duration_s: float) -> dict[str, Any]:
        sent: dict[str, list[int]] = {t: [] for t in self.topics}
        ticks, period = max(1, round(hz * duration_s)), 1.0 / hz
        start = time.perf_counter()
        for i in range(ticks):
            delay = start + i * period - time.perf_counter()
            if delay > 0:
                time.sleep(delay)  # pacing the cameras' frame rate
            for topic, pub, msg in zip(self.topics, self.pubs, self.frames, strict=True):
                self._count += 1
                stamp = time.time_ns() // 1000 * 1000 + self._count % 1000
                msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(stamp, 1_000_000_000)
                pub.publish(msg)
                sent[topic].append(stamp)
        return {"sent": sent, "elapsed_s": max(time.perf_counter() - start, ticks * period)}


def _wait_matched(player: Player, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while not player.matched():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    time.sleep(0.3)  # the readers' locators settle after the match
    return True


def serve(player: Player, timeout_s: float) -> int:
    if not _wait_matched(player, timeout_s):
        _emit({"ready": False, "unmatched": [t for t, p in zip(player.topics, player.pubs, strict=True)
                                             if p.get_subscription_count() == 0]})
        return 1
    _emit({"ready": True, "topics": player.topics})
    for line in sys.stdin:
        command = json.loads(line)
        if command.get("quit"):
            break
        _emit(player.play(float(command["hz"]), float(command["duration_s"])))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--topics", required=True, help="comma list of image topics")
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--height", type=int, default=480)
    parser.add_argument("--match-timeout", type=float, default=120.0)
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    apply_ros_env_defaults()
    rclpy.init(args=[])
    node = rclpy.create_node("camera_player", start_parameter_services=False, enable_rosout=False)
    try:
        return serve(Player(node, args.topics.split(","), args.width, args.height), args.match_timeout)
    finally:
        node.destroy_node()
        rclpy.try_shutdown()


if __name__ == "__main__":
    sys.exit(main())
