"""Replay on local Ray (2 CPUs): verdicts, detections and JUnit of four bags, a killed task, chunks.

One Ray session serves the whole module; it binds loopback addresses only.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("rclpy")
pytest.importorskip("edge_ai_ros.msg")
# Ray's single-host mode (every server on loopback) is read when ray is imported.
os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
os.environ["RAY_USAGE_STATS_ENABLED"] = "0"  # no usage statistics sent anywhere
ray = pytest.importorskip("ray")

from fleet_helpers import DiesOnce, is_loopback, listening_addresses  # noqa: E402
from replay_bags import TOPIC, write_bag  # noqa: E402
from tiny_detector import build_detector  # noqa: E402

from edge_ai_ros.replay.fleet import LOCAL_ONLY_VAR, FleetConfig  # noqa: E402
from edge_ai_ros.replay.fleet_results import FleetRun, fleet_cases, run_fleet, write_fleet_report  # noqa: E402
from edge_ai_ros.replay.golden import load_golden  # noqa: E402
from edge_ai_ros.replay.junit import exit_status, parse_fail_on, write_junit  # noqa: E402
from edge_ai_ros.replay.session import ReplayJob  # noqa: E402
from edge_ai_ros.ros.drivers.bag_replayer import replay_frames  # noqa: E402

HERE = Path(__file__).resolve().parent
BASE = int(os.environ.get("ROS_DOMAIN_ID", "91"))


@pytest.fixture(scope="module")
def ray_session() -> Iterator[None]:
    """Ray with 2 CPUs on loopback; workers find this folder's helpers on their PYTHONPATH."""
    saved = {"PYTHONPATH": os.environ.get("PYTHONPATH")}
    paths = [str(HERE), str(HERE.parent / "ros"), str(HERE.parents[1]), os.environ.get("PYTHONPATH", "")]
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in paths if p)
    assert os.environ[LOCAL_ONLY_VAR] == "0"
    ray.init(num_cpus=2, include_dashboard=False, _node_ip_address="127.0.0.1", log_to_driver=False)
    try:
        yield
    finally:
        ray.shutdown()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _config(**kw: object) -> FleetConfig:
    return FleetConfig(domain_base=BASE, domain_count=min(9, 102 - BASE), progress=False, **kw)  # type: ignore[arg-type]


def _job(bag: Path, model: Path, out: Path, **kw: object) -> ReplayJob:
    return ReplayJob(bag=str(bag), topic=TOPIC, manifest=str(model), out_dir=str(out / bag.name), backend="onnxruntime",
                     measure_engine=False, **kw)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def four_bags(ray_session: None, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, FleetRun]:
    """a passes, b regresses on frames 1 and 3, c is truncated, d lacks the topic; run on Ray against goldens."""
    root = tmp_path_factory.mktemp("fleet")
    model = build_detector(root / "model")
    bags = {n: write_bag(root / n, frames=6) for n in "ab"}
    bags["c"] = write_bag(root / "c", frames=300, compressed=False, storage="mcap", other_topics=False)
    bags["d"] = write_bag(root / "d", frames=3, topic="/other/camera")
    golden = root / "golden"
    rec = run_fleet([_job(bags[n], model, root / "rec", golden=str(golden / f"{n}.golden.json"), record_golden=True)
                     for n in "abc"], _config(), replay_frames)
    assert [r.verdict for r in rec.results] == ["recorded"] * 3, [r.reason for r in rec.results]
    data = json.loads((golden / "b.golden.json").read_text())
    for frame in (1, 3):
        for det in data["frames"][frame]["detections"]:
            det["box"] = [v + 9.0 for v in det["box"]]  # a golden the candidate no longer matches on two frames
    (golden / "b.golden.json").write_text(json.dumps(data))
    mcap = next(bags["c"].glob("*.mcap"))
    mcap.write_bytes(mcap.read_bytes()[: mcap.stat().st_size * 3 // 4])
    jobs = [_job(bags[n], model, root / "cmp", golden=str(golden / f"{n}.golden.json") if n != "d" else "")
            for n in "abcd"]
    return root, run_fleet(jobs, _config(), replay_frames)


def test_ray_binds_loopback_only(ray_session: None) -> None:
    found = listening_addresses(os.getpid())
    assert sum(found.values()) >= 3, found  # the GCS, the raylet and workers hold listening sockets
    assert all(is_loopback(address) for address in found), found


def test_four_bags_verdicts_detections_and_junit(four_bags: tuple[Path, FleetRun]) -> None:
    root, run = four_bags
    a, b, c, d = run.results
    assert (a.verdict, b.verdict, c.verdict, d.verdict) == ("pass", "fail", "fail", "error")
    assert b.failed_frames == (1, 3) and "2 of 6 frames differ" in b.reason
    assert "bag truncated" in c.reason and 100 < c.frames_answered == c.frames_read < 300
    assert "topic '/camera/image_raw' is not in the bag" in d.reason
    golden_a = load_golden(root / "golden" / "a.golden.json")
    assert load_golden(a.detections_json).frames == golden_a.frames  # the fleet's detections are the recorded ones
    assert len(load_golden(c.detections_json).frames) == c.frames_read
    assert Path(a.report).is_file() and json.loads((root / "cmp" / "a" / "summary.json").read_text())["verdict"] == "pass"
    fail_on = parse_fail_on("regression,truncated,error")
    junit = write_junit(fleet_cases(run), root / "junit.xml", fail_on)
    suite = ET.parse(junit).getroot().find("testsuite")
    assert suite is not None and (suite.get("tests"), suite.get("failures"), suite.get("errors")) == ("4", "2", "1")
    cases = {case.get("name"): case for case in suite.iter("testcase")}
    assert cases["a"].find("failure") is None and cases["a"].find("error") is None
    b_fail = cases["b"].find("failure")
    assert b_fail is not None and b_fail.get("type") == "regression"
    assert "2 frame(s) differ from golden beyond the tolerances: 1, 3" in (b_fail.get("message") or "")
    c_fail = cases["c"].find("failure")
    assert c_fail is not None and c_fail.get("type") == "truncated" and "of 300 frames" in (c_fail.get("message") or "")
    d_err = cases["d"].find("error")
    assert d_err is not None and "/other/camera" in (d_err.get("message") or "")
    assert exit_status(fleet_cases(run), fail_on) == 2
    assert exit_status(fleet_cases(run), parse_fail_on("regression")) == 1
    assert exit_status(fleet_cases(run), parse_fail_on("unanswered")) == 0


def test_killed_task_is_retried_and_the_retry_is_reported(ray_session: None, tmp_path: Path) -> None:
    model = build_detector(tmp_path / "model")
    bags = [write_bag(tmp_path / n, frames=6) for n in ("x", "y")]
    marker = tmp_path / "killed"
    run = run_fleet([_job(bag, model, tmp_path / "out") for bag in bags], _config(max_retries=1), DiesOnce(marker))
    assert marker.is_file()  # a worker process really died mid-replay
    assert [r.verdict for r in run.results] == ["done", "done"]
    assert [r.frames_answered for r in run.results] == [6, 6]
    (retried,) = run.retried()
    assert retried.attempts == 2 and not retried.lost and "Worker" in retried.errors[0]
    _, md = write_fleet_report(run, tmp_path / "out")
    assert f"| {retried.task.label} | 2 | done |" in md.read_text()
    xml = write_junit(fleet_cases(run), tmp_path / "junit.xml", parse_fail_on("error,incomplete")).read_text()
    assert "attempt 1 failed:" in xml and "passed on attempt 2" in xml and "<failure" not in xml


def test_lost_chunk_names_the_frames_not_compared_and_the_rest_finishes(ray_session: None, tmp_path: Path) -> None:
    model = build_detector(tmp_path / "model")
    bag = write_bag(tmp_path / "long", frames=12)
    golden = tmp_path / "long.golden.json"
    rec = run_fleet([_job(bag, model, tmp_path / "rec", golden=str(golden), record_golden=True)], _config(),
                    replay_frames)
    assert rec.results[0].verdict == "recorded"
    run = run_fleet([_job(bag, model, tmp_path / "out", golden=str(golden))],
                    _config(max_retries=0, chunk_seconds=0.2), DiesOnce(tmp_path / "killed"))
    (lost,) = run.lost()
    lost_frames = tuple(range(lost.task.frames.start, lost.task.frames.start + lost.task.frame_count))
    result = run.results[0]
    assert len(run.records) == 3 and len(lost_frames) == 4
    assert result.verdict == "error" and f"{lost.task.label} not compared" in result.reason
    assert result.unanswered == lost_frames and result.frames_answered == 8
    cases = fleet_cases(run)
    failing = {c.name: c.failing(parse_fail_on("regression,incomplete")) for c in cases}
    assert [n for n, f in failing.items() if f] == [lost.task.label]
    assert set(failing[lost.task.label]) == {"incomplete"}


def test_chunks_give_the_same_frames_as_the_whole_bag(ray_session: None, tmp_path: Path) -> None:
    model = build_detector(tmp_path / "model")
    bag = write_bag(tmp_path / "long", frames=12)
    whole = run_fleet([_job(bag, model, tmp_path / "whole")], _config(), replay_frames)
    chunked = run_fleet([_job(bag, model, tmp_path / "chunked")], _config(chunk_seconds=0.2), replay_frames)
    assert [r.task.frames.describe() for r in chunked.records] == ["frames 0-3", "frames 4-7", "frames 8-11"]
    assert len(whole.records) == 1
    one, parts = whole.results[0], chunked.results[0]
    assert load_golden(parts.detections_json).frames == load_golden(one.detections_json).frames
    assert len(load_golden(one.detections_json).frames) == 12
    assert dataclasses.replace(parts, out_dir="", report="", report_html="", detections_json="", results_bag="",
                               latency_ms={}, replay_fps=0, stages_ms={}) == \
        dataclasses.replace(one, out_dir="", report="", report_html="", detections_json="", results_bag="",
                            latency_ms={}, replay_fps=0, stages_ms={})


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "edge_ai_ros.cli.main", "replay", *args], capture_output=True,
                          text=True, timeout=180, check=False, env=dict(os.environ))


def test_serial_jobs_and_ray_give_the_same_detections_and_verdicts(ray_session: None, tmp_path: Path) -> None:
    model = build_detector(tmp_path / "model")
    bags = [str(write_bag(tmp_path / n, frames=5)) for n in ("p", "q", "r")]
    common = [*bags, "--topic", TOPIC, "--model", str(model), "--backend", "onnxruntime", "--no-engine-rate",
              "--no-progress"]
    rec = _cli(*common, "--record-golden", "--golden", str(tmp_path / "golden"), "--out", str(tmp_path / "rec"))
    assert rec.returncode == 0, rec.stdout + rec.stderr
    data = json.loads((tmp_path / "golden" / "q.golden.json").read_text())
    data["frames"][2]["detections"][0]["box"][0] += 9.0  # q regresses on frame 2 in every mode
    (tmp_path / "golden" / "q.golden.json").write_text(json.dumps(data))
    cmp = [*common, "--golden", str(tmp_path / "golden")]
    serial = _cli(*cmp, "--out", str(tmp_path / "serial"))
    jobs = _cli(*cmp, "--out", str(tmp_path / "jobs"), "--jobs", "2", "--domain-ids", f"{BASE + 1},{BASE + 2}")
    from edge_ai_ros.cli.main import main  # the Ray run reuses this module's Ray session

    on_ray = main(["replay", *cmp, "--out", str(tmp_path / "ray"), "--ray", "--domain-range", f"{BASE + 3}-{BASE + 5}",
                   "--chunk-seconds", "0.1"])
    assert serial.returncode == jobs.returncode == on_ray == 1, serial.stdout + serial.stderr + jobs.stdout
    for name in ("p", "q", "r"):
        frames = {mode: load_golden(tmp_path / mode / name / "detections.json").frames
                  for mode in ("serial", "jobs", "ray")}
        assert frames["serial"] == frames["jobs"] == frames["ray"] and len(frames["serial"]) == 5
    verdicts = {mode: [(r["verdict"], r["failed_frames"]) for r in
                       json.loads((tmp_path / mode / "summary.json").read_text())["results"]]
                for mode in ("serial", "jobs", "ray")}
    assert verdicts["serial"] == verdicts["jobs"] == verdicts["ray"] == [("pass", []), ("fail", [2]), ("pass", [])]
    for mode in ("serial", "jobs", "ray"):
        assert "1 frame(s) differ from golden beyond the tolerances: 2" in (tmp_path / mode / "junit.xml").read_text()
