"""bench-node --camera: node variants and the stock camera's command line (no ROS needed)."""

from __future__ import annotations

import pytest

from edge_ai_ros.cli.bench_node import parse_variants
from edge_ai_ros.errors import ConfigError
from edge_ai_ros.ros.drivers.stock_camera import CameraSettings, camera_args, parse


def test_variants_parse_names_and_parameters() -> None:
    variants = parse_variants(["before:input_qos=best_effort,fastdds_profile=old.xml", "after"])
    assert variants == {"before": {"input_qos": "best_effort", "fastdds_profile": "old.xml"}, "after": {}}
    assert parse_variants([]) == {"auto": {}}


def test_camera_settings_survive_the_command_line() -> None:
    settings = CameraSettings(topic="/cam/image", size="1920x1080", hz=15.0, frames=12, reliability="best_effort",
                              compressed=True, profile="none", switch_after=5, switch_to="reliable",
                              match_timeout_s=7.0, depth=3)
    args = camera_args(settings)
    assert parse(args[args.index("--topic"):]) == settings


def test_camera_settings_refuse_unknown_sizes() -> None:
    with pytest.raises(ConfigError, match="size"):
        CameraSettings(topic="/cam/image", size="800x600")
