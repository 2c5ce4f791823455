"""Each bag replayed through each engine must match its golden within the engine's tolerances."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("rclpy")
pytest.importorskip("edge_ai_ros.msg")

from edge_ai_ros.replay.regression import RegressionCase, failure_message, run_case  # noqa: E402
from edge_ai_ros.ros.drivers.bag_replayer import replay_frames  # noqa: E402


def test_replay_matches_golden(regression_case: RegressionCase, regression_out: Path) -> None:
    result = run_case(regression_case, regression_out, play=replay_frames)
    if result.verdict != "pass":
        pytest.fail(failure_message(regression_case, result), pytrace=False)
