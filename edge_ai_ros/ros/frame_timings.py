"""Per-frame stage times of the inference node, as a std_msgs/Float64MultiArray side channel.

Why: percentiles from /diagnostics cannot be subtracted per frame (p99 of a difference is not
the difference of p99s), and they say nothing about where between the camera's publish and
the subscriber's receive the time went. With ``publish_frame_timings:=true`` the node
publishes one record per answered frame on ``~/frame_timings`` *after* the frame's output, so
the record never delays the output it describes. Times are CLOCK_MONOTONIC seconds
(``time.monotonic``), which all processes of one host share, so a benchmark can line them up
with its own publish and receive times. No custom message: msg/ stays the public interface.
"""

from __future__ import annotations

from dataclasses import astuple

from std_msgs.msg import Float64MultiArray, MultiArrayDimension

from edge_ai_ros.serving.frame_times import FIELDS, FrameTimes, now

__all__ = ["FIELDS", "TOPIC", "FrameTimes", "from_msg", "now", "to_msg"]

TOPIC = "~/frame_timings"


def to_msg(times: FrameTimes) -> Float64MultiArray:
    msg = Float64MultiArray()
    msg.layout.dim = [MultiArrayDimension(label=",".join(FIELDS), size=len(FIELDS), stride=len(FIELDS))]
    msg.data = [float(v) for v in astuple(times)]
    return msg


def from_msg(msg: Float64MultiArray) -> FrameTimes | None:
    """The record in ``msg``, or None when its layout is not this version's (ignore it)."""
    if not msg.layout.dim or msg.layout.dim[0].label != ",".join(FIELDS) or len(msg.data) != len(FIELDS):
        return None
    values = dict(zip(FIELDS, msg.data, strict=True))
    values["stamp_sec"], values["stamp_nanosec"] = int(values["stamp_sec"]), int(values["stamp_nanosec"])
    return FrameTimes(**values)
