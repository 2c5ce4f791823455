"""One frame's times through the inference node (ROS-free): the record ros/frame_timings.py carries.

Points are CLOCK_MONOTONIC seconds (``time.monotonic``), which all processes of one host
share, so a benchmark can line them up with its own publish and receive times; stage lengths
are seconds.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, fields


@dataclass(frozen=True, kw_only=True)
class FrameTimes:
    """One frame through the node: points in monotonic seconds, stage lengths in seconds."""

    stamp_sec: int  # the image header's stamp, to match the frame
    stamp_nanosec: int
    callback: float  # subscription callback entered (message already taken and deserialised)
    dequeued: float  # the worker took it from the frame queue
    converted: float  # message -> RGB array done
    preprocess_s: float  # the pipeline's own stage timings
    inference_s: float
    postprocess_s: float
    ran: float  # pipeline returned (model lease, dtype cast and decode included)
    published: float  # output message built and published

    @property
    def stamp_ns(self) -> int:
        return self.stamp_sec * 1_000_000_000 + self.stamp_nanosec

    def stages_ms(self) -> dict[str, float]:
        """Where the node spent this frame's time, callback -> published, in ms."""
        pipeline = self.preprocess_s + self.inference_s + self.postprocess_s
        return {
            "queue_wait": (self.dequeued - self.callback) * 1e3,
            "conversion": (self.converted - self.dequeued) * 1e3,
            "preprocess": self.preprocess_s * 1e3,
            "inference": self.inference_s * 1e3,
            "postprocess": self.postprocess_s * 1e3,
            "pipeline_other": max(0.0, self.ran - self.converted - pipeline) * 1e3,
            "build_publish": (self.published - self.ran) * 1e3,
            "node_total": (self.published - self.callback) * 1e3,
        }


FIELDS = tuple(f.name for f in fields(FrameTimes))


def now() -> float:
    """The clock every point of FrameTimes is on (shared by all processes of the host)."""
    return time.monotonic()
