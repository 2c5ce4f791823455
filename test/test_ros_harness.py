"""The shared fixtures work across processes: a child started by node_process gets the ROS
environment, talks to this process over a real topic, and stops on SIGINT at teardown."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import pytest
from ros_harness import REPO_ROOT, NodeProcess, spin_until

pytestmark = pytest.mark.ros

# A minimal talker: publishes the environment it sees until interrupted, exits 0 on SIGINT.
TALKER = r"""
import json, os, rclpy
from rclpy.executors import ExternalShutdownException
from std_msgs.msg import String
rclpy.init()
node = rclpy.create_node("harness_talker")
pub = node.create_publisher(String, "harness_chatter", 10)
seen = {k: os.environ.get(k, "") for k in ("ROS_AUTOMATIC_DISCOVERY_RANGE", "ROS_DOMAIN_ID", "PYTHONPATH")}
node.create_timer(0.05, lambda: pub.publish(String(data=json.dumps(seen))))
print("talker ready", flush=True)
try:
    rclpy.spin(node)
except (KeyboardInterrupt, ExternalShutdownException):
    pass
finally:
    print("talker stopped", flush=True)
"""


def test_ros_env_keeps_dds_on_this_host(ros_env: dict[str, str]) -> None:
    assert ros_env["ROS_AUTOMATIC_DISCOVERY_RANGE"] == "LOCALHOST"
    assert ros_env["ROS_DOMAIN_ID"] == os.environ["ROS_DOMAIN_ID"]
    assert ros_env["PYTHONPATH"].split(os.pathsep)[0] == str(REPO_ROOT)
    if (REPO_ROOT / "config" / "fastdds_profile.xml").is_file():
        assert ros_env["FASTRTPS_DEFAULT_PROFILES_FILE"].endswith("config/fastdds_profile.xml")


def test_child_node_talks_to_this_process_and_stops_on_sigint(
    node_process: Callable[..., NodeProcess], rclpy_context: Any
) -> None:
    import json

    from rclpy.executors import SingleThreadedExecutor
    from std_msgs.msg import String

    talker = node_process("-c", TALKER)
    talker.wait_for_output("talker ready", timeout_s=30.0)

    import rclpy

    node = rclpy.create_node("harness_listener", context=rclpy_context)
    executor = SingleThreadedExecutor(context=rclpy_context)
    executor.add_node(node)
    received: list[Any] = []
    node.create_subscription(String, "harness_chatter", received.append, 10)
    try:
        assert spin_until(executor, lambda: bool(received), timeout_s=20.0), talker.output()
    finally:
        executor.shutdown()
        node.destroy_node()
    seen = json.loads(received[0].data)
    assert seen["ROS_AUTOMATIC_DISCOVERY_RANGE"] == "LOCALHOST"
    assert seen["ROS_DOMAIN_ID"] == os.environ["ROS_DOMAIN_ID"]

    assert talker.stop() == 0
    assert "talker stopped" in talker.output()
