"""The shared latency summary and the one benchmark JSON writer."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from edge_ai_ros.benchmark_json import write_benchmark_json
from edge_ai_ros.host import describe_host
from edge_ai_ros.stats import KEYS, summarize


def test_summary_has_the_shared_keys_and_numpy_percentiles() -> None:
    samples = [0.001 * i for i in range(1, 101)]
    summary = summarize(samples, scale=1e3)
    assert tuple(summary.to_dict()) == KEYS
    assert summary.count == 100 and summary.max == pytest.approx(100.0) and summary.mean == pytest.approx(50.5)
    for key, q in (("p50", 50), ("p90", 90), ("p99", 99)):
        assert getattr(summary, key) == pytest.approx(np.percentile(np.arange(1, 101), q))


def test_summary_of_nothing_is_empty_and_nan() -> None:
    summary = summarize(iter(()))
    assert summary.empty and summary.count == 0 and all(math.isnan(v) for k, v in summary.to_dict().items() if k != "count")


def test_benchmark_json_is_written_whole_and_read_back(tmp_path: Path) -> None:
    payload = {"result": {"latency_ms": summarize([1.0, 2.0]).to_dict()}}
    path = write_benchmark_json(tmp_path / "out" / "bench.json", payload)
    written = json.loads(path.read_text())
    assert written["result"] == payload["result"] and [p.name for p in path.parent.iterdir()] == ["bench.json"]


def test_benchmark_json_names_its_host(tmp_path: Path) -> None:
    """Every benchmark's numbers carry the host they were measured on (this host's CPU and flags)."""
    written = json.loads(write_benchmark_json(tmp_path / "bench.json", {"rows": []}).read_text())
    host = written["host"]
    assert host["cpu_flags"] == describe_host()["cpu_flags"] and host["logical_cores"] >= 1
    assert "loadavg" in host and "cgroup_cpu_quota" in host and "runtimes" in host
    kept = json.loads(write_benchmark_json(tmp_path / "b2.json", {"host": {"given": 1}}).read_text())
    assert kept["host"] == {"given": 1}
