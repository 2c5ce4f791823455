"""The one way a console-script node starts and stops.

Every entry point applies the environment defaults (host-local discovery, the shipped
Fast DDS profile) before ``rclpy.init``, spins until Ctrl-C or an external shutdown, and
releases the node and the context in the same order, so no process is left with a live
executor thread (which aborts the interpreter at exit).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence

import rclpy
from rclpy.executors import ExternalShutdownException, MultiThreadedExecutor, SingleThreadedExecutor
from rclpy.node import Node

from edge_ai_ros.ros.environment import apply_ros_env_defaults


def spin_node(make_node: Callable[[], Node], args: Sequence[str] | None = None, *, threads: int = 1,
              before_destroy: Callable[[Node], None] | None = None) -> int:
    """Create the node after ``rclpy.init`` and spin it; ``threads`` > 1 uses a thread pool.

    Prefer ``threads=1``: rclpy 7.1.6's MultiThreadedExecutor re-submits callbacks that are
    queued but not started, in a loop that holds the GIL (ros2/rclpy#1452). Nodes with long
    callbacks move that work to threads of their own instead.
    """
    apply_ros_env_defaults()
    rclpy.init(args=list(args) if args is not None else sys.argv)
    node = make_node()
    executor = MultiThreadedExecutor(num_threads=threads) if threads > 1 else SingleThreadedExecutor()
    executor.add_node(node)
    try:
        executor.spin()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        if before_destroy is not None:
            before_destroy(node)
        executor.shutdown()
        node.destroy_node()
        rclpy.try_shutdown()
    return 0
