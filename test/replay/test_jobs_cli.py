"""``edge-ai-ros replay``: parallel bags with a domain id per worker, a summary, and exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("rclpy")
pytest.importorskip("edge_ai_ros.msg")

from replay_bags import TOPIC, write_bag  # noqa: E402
from tiny_detector import build_detector  # noqa: E402

from edge_ai_ros.errors import ConfigError  # noqa: E402
from edge_ai_ros.replay.jobs import job_from_dict, job_to_dict, worker_domain_ids  # noqa: E402
from edge_ai_ros.replay.session import ReplayJob  # noqa: E402


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "edge_ai_ros.cli.main", "replay", *args], capture_output=True,
                          text=True, timeout=120, check=False, env=dict(os.environ))


def test_jobs_replay_bags_in_parallel_on_their_own_domains(tmp_path: Path) -> None:
    model = build_detector(tmp_path / "model")
    bags = [str(write_bag(tmp_path / name, frames=4)) for name in ("a", "b", "c")]
    base = int(os.environ.get("ROS_DOMAIN_ID", "14"))
    ids = f"{base},{(base + 50) % 100}"
    common = ["--topic", TOPIC, "--model", str(model), "--backend", "onnxruntime", "--no-engine-rate"]
    rec = _cli(*bags, *common, "--record-golden", "--golden", str(tmp_path / "golden"), "--out",
               str(tmp_path / "rec"), "--jobs", "2", "--domain-ids", ids)
    assert rec.returncode == 0, rec.stdout + rec.stderr
    assert sorted(p.name for p in (tmp_path / "golden").iterdir()) == ["a.golden.json", "b.golden.json", "c.golden.json"]
    used = {json.loads((tmp_path / "rec" / n / "job.json").read_text())["domain_id"] for n in "abc"}
    assert used == {int(x) for x in ids.split(",")}
    cmp = _cli(*bags, *common, "--golden", str(tmp_path / "golden"), "--out", str(tmp_path / "cmp"),
               "--jobs", "2", "--domain-ids", ids)
    assert cmp.returncode == 0, cmp.stdout + cmp.stderr
    summary = json.loads((tmp_path / "cmp" / "summary.json").read_text())
    assert summary["counts"]["pass"] == 3 and "| a | pass |" in (tmp_path / "cmp" / "summary.md").read_text()
    assert "throughput: replay" in cmp.stdout and "frames/s" in cmp.stdout


def test_cli_errors_exit_2_with_the_message(tmp_path: Path) -> None:
    model = build_detector(tmp_path / "model")
    bag = str(write_bag(tmp_path / "bag", frames=2))
    proc = _cli(bag, "--topic", "/nope", "--model", str(model), "--out", str(tmp_path / "out"))
    assert proc.returncode == 2 and "topic '/nope' is not in the bag; topics: /camera/image_raw/compressed" in proc.stdout


def test_job_round_trips_through_json_and_domains_stay_in_range() -> None:
    job = ReplayJob(bag="b", topic="/t", manifest="m", out_dir="o", domain_id=3)
    assert job_from_dict(json.loads(json.dumps(job_to_dict(job)))) == job
    assert worker_domain_ids(3, base=20) == [20, 21, 22]
    with pytest.raises(ConfigError, match="leave 0..101"):
        worker_domain_ids(4, base=100)
