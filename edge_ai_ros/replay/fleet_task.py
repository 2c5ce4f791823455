"""One fleet task: play one bag (or one chunk of it) through the node on a worker, return the outputs.

This is the function a Ray worker runs. It needs nothing from the driver but the task
record and the player: it opens the bag itself (a local path or a shared path every worker
can read), starts its own node through ``player`` on its own ROS_DOMAIN_ID with discovery
kept on the worker host (LOCALHOST) and a node namespace of its own, and returns the
outputs as plain data. The driver's ROS graph, if it has one, is never involved.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from edge_ai_ros.bags.source import BagSource
from edge_ai_ros.replay.chunks import FrameRange, frames_in
from edge_ai_ros.replay.player import FramePlayer, ReplayerConfig, ReplayOutcome


@dataclass(frozen=True, kw_only=True)
class FleetTask:
    number: int  # position in the fleet run: decides the domain id and the node namespace
    bag: str
    topic: str
    manifest: str
    backend: str
    frames: FrameRange
    chunk: int = 0  # index of this chunk within its bag
    chunks: int = 1  # chunks of the bag
    frame_count: int = 0  # frames in this task (for progress)
    domain_id: int = 0
    frame_timeout_s: float = 10.0
    stage_timings: bool = True

    @property
    def label(self) -> str:
        name = os.path.basename(self.bag.rstrip("/")) or self.bag
        if self.chunks == 1:
            return name
        return f"{name} chunk {self.chunk + 1}/{self.chunks} ({self.frames.describe()})"


def play_task(task: FleetTask, player: FramePlayer) -> ReplayOutcome:
    """Replay ``task``'s frames through a fresh node in this process and return what it answered."""
    os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"  # DDS never leaves the worker host
    os.environ["ROS_DOMAIN_ID"] = str(task.domain_id)
    source = BagSource(task.bag, task.topic)
    config = ReplayerConfig(namespace=f"replay_t{task.number}", domain_id=task.domain_id,
                            frame_timeout_s=task.frame_timeout_s, stage_timings=task.stage_timings)
    return player(frames_in(source.frames(), task.frames), msgtype=source.msgtype, manifest=task.manifest,
                  backend=task.backend, config=config)
