"""Where each replayed frame's latency went: replayer publish -> node -> replayer receive.

Why: a replay's end-to-end percentiles say that a frame was slow, not whether the time was
spent in the engine, in the node's queue or between the processes' callbacks (the ROS path).
The node in regression mode publishes its per-frame record on ``~/frame_timings``
(ros/frame_timings.py, CLOCK_MONOTONIC); the replayer stamps its own publish and receive on
the same clock, so every stage of every frame is a subtraction.
"""

from __future__ import annotations

import time
from collections.abc import Mapping

from std_msgs.msg import Float64MultiArray

from edge_ai_ros.ros import frame_timings
from edge_ai_ros.serving.frame_times import FrameTimes

# The part of a frame's latency that ROS adds: nothing here decodes, infers or draws.
ROS_PATH_STAGES = ("transport_in", "queue_wait", "build_publish", "transport_out")


def now() -> float:
    """The replayer's clock: the node's (frame_timings.now), so times subtract across them."""
    return time.monotonic()


class NodeTimings:
    """The node's FrameTimes records, by image header stamp (the last one wins)."""

    MSG_TYPE = Float64MultiArray

    def __init__(self) -> None:
        self.by_stamp: dict[int, FrameTimes] = {}

    def received(self, msg: Float64MultiArray) -> None:
        times = frame_timings.from_msg(msg)
        if times is not None:
            self.by_stamp[times.stamp_ns] = times

    def has_all(self, stamps: set[int]) -> bool:
        return stamps.issubset(self.by_stamp)


def frame_stages(sent_at: float, received_at: float, times: FrameTimes | None) -> Mapping[str, float]:
    """Milliseconds per stage of one frame; empty without the node's record."""
    if times is None:
        return {}
    stages = {
        "transport_in": (times.callback - sent_at) * 1e3,
        **times.stages_ms(),
        "transport_out": (received_at - times.published) * 1e3,
    }
    stages["ros_path"] = sum(stages[name] for name in ROS_PATH_STAGES)
    stages["total"] = (received_at - sent_at) * 1e3
    return stages
