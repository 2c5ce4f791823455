"""Bags + goldens as test cases: one case per (bag, engine) of regression.yaml.

EDGE_AI_ROS_REGRESSION_CONFIG points at another regression.yaml (default: the one beside
this file); EDGE_AI_ROS_REGRESSION_OUT keeps the reports somewhere stable (default: a
pytest temporary directory, whose path the failure message prints).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from edge_ai_ros.replay.regression import RegressionCase, load_cases

CONFIG = Path(os.environ.get("EDGE_AI_ROS_REGRESSION_CONFIG", Path(__file__).with_name("regression.yaml")))


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "regression_case" not in metafunc.fixturenames:
        return
    cases = load_cases(CONFIG)
    params = [pytest.param(c, id=c.id, marks=[pytest.mark.skip(reason=c.skip_reason)] if c.skip_reason else [])
              for c in cases]
    metafunc.parametrize("regression_case", params)


@pytest.fixture(scope="session")
def regression_out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    chosen = os.environ.get("EDGE_AI_ROS_REGRESSION_OUT")
    return Path(chosen) if chosen else tmp_path_factory.mktemp("regression")


__all__ = ["RegressionCase"]
