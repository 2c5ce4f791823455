"""Fleet pieces that need no Ray: chunk plans, JUnit verdicts and --fail-on, and --ray without Ray."""

from __future__ import annotations

import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from edge_ai_ros.errors import ConfigError
from edge_ai_ros.replay.chunks import FrameRange, plan_chunks
from edge_ai_ros.replay.fleet import INSTALL_LINE, FleetConfig
from edge_ai_ros.replay.junit import bag_case, exit_status, parse_fail_on, write_junit
from edge_ai_ros.replay.session import ReplayResult

S = 1_000_000_000


def test_chunks_are_contiguous_ranges_of_at_most_the_asked_seconds() -> None:
    stamps = [i * S // 20 for i in range(50)]  # 2.5 s at 20 Hz
    chunks = plan_chunks(stamps, 1.0)
    assert chunks == [FrameRange(start=0, stop=20), FrameRange(start=20, stop=40), FrameRange(start=40, stop=50)]
    assert plan_chunks(stamps, 0) == [FrameRange()]
    assert plan_chunks([0, 5 * S, 5 * S + 1], 1.0) == [FrameRange(start=0, stop=1), FrameRange(start=1, stop=3)]
    with pytest.raises(ConfigError, match="--chunk-seconds"):
        plan_chunks(stamps, -1)


def test_fleet_config_refuses_bad_addresses_and_domains() -> None:
    assert FleetConfig(domain_base=20, domain_count=3).domain_of(7) == 21
    with pytest.raises(ConfigError, match="is not a Ray address"):
        FleetConfig(address="cluster")
    with pytest.raises(ConfigError, match="portable ROS_DOMAIN_ID range"):
        FleetConfig(domain_base=100, domain_count=5)


def _result(**kw: object) -> ReplayResult:
    values: dict[str, object] = {"bag": "/bags/b1", "topic": "/t", "model_id": "m", "verdict": "pass",
                                 "frames_expected": 10, "frames_read": 10}
    return ReplayResult(**{**values, **kw})  # type: ignore[arg-type]


def test_junit_cases_fail_only_on_what_fail_on_names(tmp_path: Path) -> None:
    cases = [bag_case(_result()),
             bag_case(_result(bag="/bags/b2", verdict="fail", failed_frames=(4, 7), frames_failed=2)),
             bag_case(_result(bag="/bags/b3", verdict="fail", frames_read=6, read_error="cut")),
             bag_case(_result(bag="/bags/b4", verdict="error", frames_read=0, reason="topic '/t' is not in the bag"))]
    fail_on = parse_fail_on("regression,error")
    suite = ET.parse(write_junit(cases, tmp_path / "j.xml", fail_on)).getroot().find("testsuite")
    assert suite is not None and (suite.get("tests"), suite.get("failures"), suite.get("errors")) == ("4", "1", "1")
    by_name = {c.get("name"): c for c in suite.iter("testcase")}
    failure = by_name["b2"].find("failure")
    assert failure is not None and "beyond the tolerances: 4, 7" in (failure.get("message") or "")
    assert by_name["b3"].find("failure") is None
    assert "truncated (not in --fail-on): bag truncated: read 6 of 10 frames (cut)" in (by_name["b3"].findtext("system-out") or "")
    assert exit_status(cases, fail_on) == 2 and exit_status(cases, parse_fail_on("truncated")) == 1
    assert exit_status(cases[:1], parse_fail_on("regression,truncated,error")) == 0
    with pytest.raises(ConfigError, match="choose from regression, truncated"):
        parse_fail_on("regression,flaky")


BLOCK_RAY = """
import importlib.abc, sys
class NoRay(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name == "ray" or name.startswith("ray."):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None
sys.meta_path.insert(0, NoRay())
from edge_ai_ros.cli.main import main
sys.exit(main(sys.argv[1:]))
"""


def test_ray_option_without_ray_fails_with_the_install_line(tmp_path: Path) -> None:
    pytest.importorskip("rosbags")
    from replay_bags import TOPIC, write_bag

    bag = write_bag(tmp_path / "bag", frames=2)
    proc = subprocess.run([sys.executable, "-c", BLOCK_RAY, "replay", str(bag), "--topic", TOPIC, "--ray",
                           "--out", str(tmp_path / "out")], capture_output=True, text=True, timeout=120, check=False,
                          env=dict(os.environ))
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "--ray needs Ray, which is not installed" in proc.stderr and INSTALL_LINE in proc.stderr
