"""The in-process runner brings camera_source + inference_node up, runs a bag end to end, and stops.

Real rclpy, a real ONNX model (tiny_detector), a real bag (rosbags writer) in tmp_path.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

pytest.importorskip("rclpy")
pytest.importorskip("edge_ai_ros.msg", reason="the project's interfaces are not built in this environment")

from image_bags import write_image_bag  # noqa: E402
from tiny_detector import build_detector  # noqa: E402

from edge_ai_ros.ros.drivers.graph import GraphRunner, run_until_done  # noqa: E402
from edge_ai_ros.ros.graph_spec import GraphOptions, node_specs  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
PARAMS = ROOT / "config" / "perception.yaml"
NO_LOSS = ("qos_reliability:=reliable", "drop_policy:=none", "camera_source.qos_reliability:=reliable")


@pytest.fixture
def bag_and_model(tmp_path: Path) -> tuple[Path, Path]:
    return write_image_bag(tmp_path / "bag", frames=12, hz=50.0), build_detector(tmp_path / "model")


def _cli(*args: str, timeout_s: float = 90.0) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run([sys.executable, "-m", "edge_ai_ros.cli.main", *args], capture_output=True, text=True,
                          env=env, timeout=timeout_s, check=False)


def test_runner_answers_every_frame_and_shuts_down_cleanly(bag_and_model: tuple[Path, Path]) -> None:
    bag, manifest = bag_and_model
    # onnxruntime: importing openvino starts a telemetry thread of its own that would count as leftover
    specs = node_specs(GraphOptions(params_files=(str(PARAMS),), namespace="g", model=str(manifest),
                                    backend="onnxruntime", use_camera_source=True, bag=str(bag), overrides=NO_LOSS))
    threads_before = set(threading.enumerate())
    lines = []
    with GraphRunner(specs) as runner:
        run_until_done(runner, exit_on_end=True, startup_timeout_s=30.0, on_line=lines.append)
        assert runner.camera is not None and runner.collector is not None
        published = [p.stamp_ns for p in runner.camera.published]
        received = runner.collector.received
        assert runner.camera.topic_name == "/g/image"
        # the engine time the demo prints comes from the node's serving status, which shares
        # /diagnostics with its per-input status: both must be kept
        deadline = time.monotonic() + 5.0
        while not {"inference_ms_p50", "image.received"} <= runner.collector.diagnostics.keys():
            assert time.monotonic() < deadline, f"diagnostics keys: {sorted(runner.collector.diagnostics)}"
            time.sleep(0.05)
    assert len(published) == 12
    assert sorted(r.stamp_ns for r in received) == published, "one DetectionArray per frame, stamps copied"
    assert {r.model_id for r in received} == {"tiny-detector"}
    assert all(r.detections and r.detections[0].label in ("car", "person") for r in received)
    assert lines and lines[-1].frames_in == 12 and lines[-1].frames_out == 12
    leftover = [t for t in set(threading.enumerate()) - threads_before if t.is_alive()]
    assert leftover == [], f"threads left running: {leftover}"


def test_runner_reports_a_model_that_cannot_load(tmp_path: Path) -> None:
    bag = write_image_bag(tmp_path / "bag", frames=2)
    specs = node_specs(GraphOptions(params_files=(str(PARAMS),), model=str(tmp_path / "absent.manifest.json"),
                                    use_camera_source=True, bag=str(bag), overrides=("warmup_runs:=0",)))
    from edge_ai_ros.errors import EdgeAiError

    with GraphRunner(specs) as runner, pytest.raises(EdgeAiError, match="not active"):
        runner.wait_inference_active(5.0)


def test_up_command_exits_by_itself_when_the_bag_ends(bag_and_model: tuple[Path, Path]) -> None:
    bag, manifest = bag_and_model
    proc = _cli("up", "--bag", str(bag), "--model", str(manifest), "--exit-on-end", "--namespace", "cli")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "starting cli/inference_node, cli/camera_source" in proc.stdout
    assert "frames in   12" in proc.stdout  # best effort + latest-frame policy may drop one: no "out" check


def test_demo_command_writes_sheet_and_summary(bag_and_model: tuple[Path, Path], tmp_path: Path) -> None:
    bag, manifest = bag_and_model
    truth = {"labels": ["car", "person"], "frames": [{"index": i, "boxes": [], "class_ids": []} for i in range(12)]}
    (bag / "ground_truth.json").write_text(json.dumps(truth))
    out = tmp_path / "out"
    proc = _cli("demo", "--bag", str(bag), "--model", str(manifest), "--out", str(out), "--quiet",
                *("-p", NO_LOSS[0]), *("-p", NO_LOSS[1]), *("-p", NO_LOSS[2]))
    assert proc.returncode == 0, proc.stderr[-2000:]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["frames_published"] == 12 and summary["frames_answered"] == 12
    assert summary["model_id"] == "tiny-detector" and summary["latency_ms"]["p50"] > 0
    assert summary["map50"]["frames_scored"] == 12
    assert (out / "contact_sheet.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "frames published / answered | 12 / 12" in (out / "summary.md").read_text()
    assert str(out / "contact_sheet.png") in proc.stdout


def _demo_bag_head(folder: Path, frames: int) -> Path:
    """The first ``frames`` frames of the shipped demo bag, with their ground truth."""
    from rosbags.highlevel import AnyReader
    from rosbags.rosbag2 import Writer

    from edge_ai_ros.demo.compressed import ASSETS

    source = ASSETS / "demo_bag"
    with AnyReader([source]) as reader, Writer(folder, version=9) as writer:
        conn = reader.connections[0]
        out = writer.add_connection(conn.topic, conn.msgtype, typestore=reader.typestore)
        for index, (_, t_ns, raw) in enumerate(reader.messages(connections=[conn])):
            if index == frames:
                break
            writer.write(out, t_ns, raw)
    truth = json.loads((source / "ground_truth.json").read_text())
    truth["frames"] = truth["frames"][:frames]
    (folder / "ground_truth.json").write_text(json.dumps(truth))
    return folder


def _demo(bag: Path, out: Path, *args: str) -> subprocess.CompletedProcess[str]:
    overrides = [arg for pair in (("-p", o) for o in NO_LOSS) for arg in pair]
    return _cli("demo", "--bag", str(bag), "--out", str(out), "--quiet", "--backend", "onnxruntime",
                *overrides, *args, timeout_s=180.0)


def test_demo_serves_the_compressed_int8_model_by_default(tmp_path: Path) -> None:
    from edge_ai_ros.cli.demo_models import DEFAULT_MAX_DROP, compile_int8
    from edge_ai_ros.demo.compressed import int8_shipped

    if not int8_shipped():
        pytest.skip("no compressed demo detector shipped (scripts/ship_compressed_demo.py)")
    bag, cache = _demo_bag_head(tmp_path / "bag", 16), tmp_path / "cache"
    first = compile_int8(bag=bag, backend="onnxruntime", cache_dir=cache, max_drop=DEFAULT_MAX_DROP)
    proc = _demo(bag, tmp_path / "out", "--cache-dir", str(cache))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "cache hit, loaded without building" in proc.stdout and first.cache_key[:12] in proc.stdout
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["model_id"].startswith("demo_detector_int8-") and summary["frames_answered"] == 16
    columns = {c["label"]: c for c in summary["comparison"]["columns"]}
    assert set(columns) == {"fp32", "int8"} and columns["int8"]["served"] and not columns["fp32"]["served"]
    assert summary["comparison"]["backend"] == "onnxruntime" and summary["comparison"]["frames"] == 16
    for column in columns.values():
        assert column["map50_in_process"] is not None and column["engine_ms_p50_in_process"] > 0
        assert column["parameters"] > 0 and column["size_bytes"] > 0
    assert columns["int8"]["map50_live"] == summary["map50"]["map"] and columns["fp32"]["map50_live"] is None
    assert columns["int8"]["parameters"] < columns["fp32"]["parameters"]
    assert columns["int8"]["size_bytes"] < columns["fp32"]["size_bytes"]
    assert "| | FP32 | INT8 (served) |" in (tmp_path / "out" / "summary.md").read_text()


def test_demo_still_serves_the_fp32_model_on_request(tmp_path: Path) -> None:
    from edge_ai_ros.demo.compressed import FP32_MANIFEST, int8_shipped
    from edge_ai_ros.manifest import load_manifest

    bag = _demo_bag_head(tmp_path / "bag", 16)
    proc = _demo(bag, tmp_path / "out", "--model", "fp32", "--cache-dir", str(tmp_path / "cache"), "--max-drop", "100")
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["model_id"] == load_manifest(FP32_MANIFEST).model_id and summary["frames_answered"] == 16
    columns = {c["label"]: c for c in summary["comparison"]["columns"]}
    assert columns["fp32"]["served"] and columns["fp32"]["map50_live"] == summary["map50"]["map"]
    assert set(columns) == ({"fp32", "int8"} if int8_shipped() else {"fp32"})


def test_demo_help_documents_the_model_choice() -> None:
    proc = _cli("demo", "--help", timeout_s=30.0)
    text = " ".join(proc.stdout.split())
    assert proc.returncode == 0 and "int8: the compressed demo detector" in text
    assert "fp32: the FP32 baseline" in text and "--cache-dir" in text
