"""What a replay needs from the player that runs the node: its settings, its outcome, its signature.

The session (replay/session.py) is ROS-free; it is handed a :class:`FramePlayer`. The one
that plays frames through a real inference node is ``ros/drivers/bag_replayer.py``
(``replay_frames``), wired in by ``ros/drivers/replay_process.py``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from edge_ai_ros.bags.source import Frame
from edge_ai_ros.errors import ConfigError

_MAX_IN_FLIGHT = 1000  # the node's qos_depth / queue_size limit


@dataclass(frozen=True, kw_only=True)
class ReplayerConfig:
    namespace: str = "replay"
    domain_id: int | None = None  # None: ROS_DOMAIN_ID from the environment
    max_in_flight: int = 1  # frames published and not yet answered
    frame_timeout_s: float = 10.0  # a frame with no output after this is recorded as unanswered
    startup_timeout_s: float = 30.0  # discovery between the replayer and the node
    node_parameters: dict[str, object] = field(default_factory=dict)
    stage_timings: bool = True  # the node publishes per-frame stage times; outputs carry stages_ms

    def __post_init__(self) -> None:
        if not 1 <= self.max_in_flight <= _MAX_IN_FLIGHT:
            raise ConfigError("max_in_flight", f"must be 1..{_MAX_IN_FLIGHT}, got {self.max_in_flight}",
                              fix="1 (default) replays frame by frame; more overlaps reading with inference")
        if self.frame_timeout_s <= 0 or self.startup_timeout_s <= 0:
            raise ConfigError("timeouts", "must be positive")


@dataclass(frozen=True, kw_only=True)
class CollectedOutput:
    index: int
    stamp_ns: int
    log_time_ns: int
    data: bytes  # DetectionArray CDR
    latency_s: float
    sent_at: float = 0.0  # the player's monotonic clock at publish
    received_at: float = 0.0  # and when the output was taken
    stages_ms: Mapping[str, float] = field(default_factory=dict)  # ms per stage (ros/drivers/replay_stages.py); {} if off


@dataclass(frozen=True, kw_only=True)
class ReplayOutcome:
    outputs: tuple[CollectedOutput, ...]
    frames_published: int
    unanswered: tuple[int, ...]  # frame indices without an output within frame_timeout_s
    unexpected_outputs: int  # outputs whose stamp matched no frame in flight
    wall_s: float
    read_error: str = ""  # why reading the bag stopped early, "" if it did not


DEFAULT_REPLAYER_CONFIG = ReplayerConfig()


class FramePlayer(Protocol):
    """Plays ``frames`` through a node serving ``manifest`` and returns every output."""

    def __call__(self, frames: Iterable[Frame], *, msgtype: str, manifest: str, backend: str,
                 config: ReplayerConfig = ...) -> ReplayOutcome: ...
