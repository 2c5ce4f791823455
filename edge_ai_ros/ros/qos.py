"""QoS profiles of the node's topics, in one place so the node, runner and tests agree.

Images: camera QoS by default (best effort, keep last, small depth): a late frame is worth
less than the next one. Replay regression uses reliable so no frame is lost in transport.
Outputs: reliable keep-last, the ROS default for results. Model info: transient local, so a
subscriber that starts late still learns which model is serving.
"""

from __future__ import annotations

from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy

from edge_ai_ros.errors import ConfigError

_RELIABILITY = {"best_effort": ReliabilityPolicy.BEST_EFFORT, "reliable": ReliabilityPolicy.RELIABLE}


def image_qos(*, depth: int, reliability: str) -> QoSProfile:
    if reliability not in _RELIABILITY:
        raise ConfigError("qos_reliability", f"{reliability!r} is not one of {sorted(_RELIABILITY)}",
                          fix="use best_effort for cameras or reliable for replay")
    return QoSProfile(
        history=HistoryPolicy.KEEP_LAST, depth=depth,
        reliability=_RELIABILITY[reliability], durability=DurabilityPolicy.VOLATILE,
    )


def output_qos(depth: int = 10) -> QoSProfile:
    return QoSProfile(
        history=HistoryPolicy.KEEP_LAST, depth=depth,
        reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.VOLATILE,
    )


def latched_qos() -> QoSProfile:
    """Transient local, depth 1: late subscribers receive the last message (model info)."""
    return QoSProfile(
        history=HistoryPolicy.KEEP_LAST, depth=1,
        reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL,
    )
