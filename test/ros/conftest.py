"""The node tests' shared fixture: one ROS context per test module, listening to /diagnostics."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest


@pytest.fixture(scope="module")
def harness() -> Iterator[Any]:
    rclpy = pytest.importorskip("rclpy")  # the modules that use it skip without ROS 2 anyway
    from node_harness import Harness, init_context

    from edge_ai_ros.ros.environment import apply_ros_env_defaults

    apply_ros_env_defaults()
    context = init_context(int(os.environ.get("ROS_DOMAIN_ID", "0")))
    h = Harness(context)
    h.listen_diagnostics()
    yield h
    h.close()
    rclpy.try_shutdown(context=context)
