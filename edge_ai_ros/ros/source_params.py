"""camera_source's parameters: one table with descriptions and ranges, one validated config.

The replay reads its parameters once, when the node starts, so every parameter is declared
read-only: rclpy itself refuses a later change and says why, instead of the change being
silently ignored.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path

from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor
from rclpy.node import Node

from edge_ai_ros.errors import BagError, ConfigError

OUTPUT_FORMATS = ("raw", "compressed")
RELIABILITIES = ("best_effort", "reliable")


@dataclass(frozen=True, kw_only=True)
class SourceConfig:
    """Validated replay settings (defaults are the node's parameter defaults)."""

    bag: str = ""
    topic: str = ""
    output_format: str = "raw"
    rate: float = 1.0
    fps: float = 0.0
    loop: bool = False
    max_frames: int = 0
    restamp: bool = True
    qos_reliability: str = "best_effort"
    qos_depth: int = 5
    wait_for_subscribers_s: float = 5.0
    min_subscribers: int = 1
    autostart: bool = True

    def __post_init__(self) -> None:
        _check_choice("output_format", self.output_format, OUTPUT_FORMATS)
        _check_choice("qos_reliability", self.qos_reliability, RELIABILITIES)
        if not self.bag:
            raise ConfigError("bag", "no bag given", fix="set -p bag:=/path/to/rosbag2_dir")
        if not Path(self.bag).is_dir():
            raise BagError(f"bag {self.bag!r} is not a rosbag2 directory",
                           fix="pass the bag folder (the one holding metadata.yaml)")


# name -> (description, range or None)
_DESCRIPTIONS: dict[str, tuple[str, tuple[float, float] | None]] = {
    "bag": ("rosbag2 bag directory (sqlite3 or mcap) to replay", None),
    "topic": ("image topic in the bag; empty = its first Image/CompressedImage topic", None),
    "output_format": ("raw: decode to sensor_msgs/Image rgb8 on 'image' (like a camera driver); "
                      "compressed: pass the recorded CompressedImage bytes through on 'image/compressed'", None),
    "rate": ("playback speed multiplier of the bag's own timing", (0.01, 100.0)),
    "fps": ("fixed frame rate instead of the bag's timing; 0 = the bag's timing", (0.0, 1000.0)),
    "loop": ("start again from the first frame when the bag ends", None),
    "max_frames": ("stop after this many frames; 0 = the whole bag (per loop: in total)", (0, 10_000_000)),
    "restamp": ("stamp frames with the time they are published (frame_id kept), so input age "
                "downstream is meaningful; false = the recorded stamps", None),
    "qos_reliability": ("image publisher reliability: best_effort (camera) or reliable", None),
    "qos_depth": ("image publisher keep-last depth", (1, 100)),
    "wait_for_subscribers_s": ("wait up to this long for min_subscribers before the first frame", (0.0, 300.0)),
    "min_subscribers": ("subscribers to wait for before the first frame", (0, 100)),
    "autostart": ("start replaying when the node starts; false = the runner calls start()", None),
}


def _descriptor(name: str, default: object) -> ParameterDescriptor:
    description, bounds = _DESCRIPTIONS[name]
    desc = ParameterDescriptor(name=name, description=description, read_only=True)
    if bounds is not None and isinstance(default, int) and not isinstance(default, bool):
        desc.integer_range = [IntegerRange(from_value=int(bounds[0]), to_value=int(bounds[1]), step=1)]
    elif bounds is not None:
        desc.floating_point_range = [FloatingPointRange(from_value=float(bounds[0]), to_value=float(bounds[1]),
                                                        step=0.0)]
    return desc


def declare_source_parameters(node: Node) -> None:
    """Declare every replay parameter with its description and range (overrides win)."""
    for f in fields(SourceConfig):
        node.declare_parameter(f.name, f.default, _descriptor(f.name, f.default))


def read_source_config(node: Node) -> SourceConfig:
    """The node's parameters as a validated SourceConfig (ConfigError / BagError)."""
    return SourceConfig(**{f.name: node.get_parameter(f.name).value for f in fields(SourceConfig)})


def source_parameter_names() -> tuple[str, ...]:
    return tuple(f.name for f in fields(SourceConfig))


def _check_choice(field: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ConfigError(field, f"{value!r} is not one of {', '.join(choices)}",
                          fix=f"set {field} to one of {', '.join(choices)}")
