"""ROS environment defaults every process of this package applies before ``rclpy.init``.

Default DDS discovery multicasts out of every network interface; these machines (and a
vehicle's sensor network) must only see our traffic where it is wanted, so discovery is
kept on this host unless the user chose otherwise. Also loads the shipped Fast DDS profile
(camera-sized frames need its larger shared-memory segment) and, for the calling process,
keeps freed frame buffers mapped (serving/heap.py: ~1.3 ms of page faults per frame otherwise).
"""

from __future__ import annotations

import os
from collections.abc import MutableMapping

from edge_ai_ros.ros.middleware import use_default_fastdds_profile
from edge_ai_ros.serving.heap import keep_frame_buffers

DISCOVERY_RANGE_VAR = "ROS_AUTOMATIC_DISCOVERY_RANGE"


def apply_ros_env_defaults(env: MutableMapping[str, str] | None = None) -> None:
    """Set LOCALHOST discovery (unless set) and the shipped Fast DDS profile (unless set).

    Without ``env`` (this process) also fixes the malloc thresholds for frame buffers.
    """
    if env is None:
        keep_frame_buffers()
    target = os.environ if env is None else env
    if not target.get(DISCOVERY_RANGE_VAR) and not target.get("ROS_LOCALHOST_ONLY"):
        target[DISCOVERY_RANGE_VAR] = "LOCALHOST"
    use_default_fastdds_profile(target)
