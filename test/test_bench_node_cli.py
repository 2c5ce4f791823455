"""``bench-node --param NAME=VALUE``: node parameters from the command line, YAML-typed."""

from __future__ import annotations

import pytest

from edge_ai_ros.cli.bench_node import parse_params
from edge_ai_ros.errors import ConfigError


def test_values_are_typed_like_a_params_file() -> None:
    assert parse_params(["threads=1", "parallel_resize=false", "drop_policy=latest", "score_threshold=0.3"]) == {
        "threads": 1, "parallel_resize": False, "drop_policy": "latest", "score_threshold": 0.3}


@pytest.mark.parametrize("item", ["threads", "=1"])
def test_malformed_items_are_refused(item: str) -> None:
    with pytest.raises(ConfigError, match="NAME=VALUE"):
        parse_params([item])
