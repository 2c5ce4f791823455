"""compiler_node with a real rclpy action client in the same process (separate context)."""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("rclpy")
action = pytest.importorskip("edge_ai_ros.action", reason="needs the project venv with compiled interfaces")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "compiler"))

import rclpy  # noqa: E402
from compiler_models import make_classifier, write_scene_folder  # noqa: E402
from rclpy.action import ActionClient  # noqa: E402
from rclpy.executors import MultiThreadedExecutor  # noqa: E402
from rclpy.node import Node  # noqa: E402

from edge_ai_ros.ros.compiler_node import CompilerNode  # noqa: E402

CompileEngine = action.CompileEngine


@pytest.fixture
def graph(tmp_path: Path) -> Iterator[tuple[Node, ActionClient, Path, Path]]:
    os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    os.environ.setdefault("ROS_DOMAIN_ID", "13")
    context = rclpy.Context()
    rclpy.init(context=context)
    server = _server(context, tmp_path / "cache")
    client_node = Node("compile_client", context=context)
    client = ActionClient(client_node, CompileEngine, "compile_engine")
    executor = MultiThreadedExecutor(num_threads=4, context=context)
    executor.add_node(server)
    executor.add_node(client_node)
    spinner = threading.Thread(target=executor.spin, daemon=True)
    spinner.start()
    model = make_classifier(tmp_path / "tiny.onnx")
    calib = write_scene_folder(tmp_path / "calib", 40)
    assert client.wait_for_server(timeout_sec=10)
    try:
        yield client_node, client, model, calib
    finally:
        executor.shutdown(timeout_sec=5)
        spinner.join(timeout=10)
        client.destroy()
        client_node.destroy_node()
        server.destroy_node()
        rclpy.shutdown(context=context)


def _server(context: rclpy.Context, cache: Path) -> CompilerNode:
    node = CompilerNode(context=context)
    node.set_parameters([rclpy.parameter.Parameter("cache_dir", value=str(cache))])
    return node


def _wait(future: Any, timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    while not future.done():
        assert time.monotonic() < deadline, "timed out waiting for the action"
        time.sleep(0.01)
    return future.result()


def _goal(model: Path, calib: Path, **kw: Any) -> Any:
    return CompileEngine.Goal(onnx_path=str(model), precision="int8", backend="onnxruntime",
                              calibration_source=str(calib), **kw)


def test_goal_builds_with_feedback_then_hits_cache(graph: tuple[Node, ActionClient, Path, Path]) -> None:
    _, client, model, calib = graph
    stages: list[str] = []
    handle = _wait(client.send_goal_async(_goal(model, calib), feedback_callback=lambda f: stages.append(f.feedback.stage)))
    result = _wait(handle.get_result_async()).result
    assert result.success, result.message
    assert Path(result.engine_path).is_file() and Path(result.manifest_path).is_file()
    assert result.top1_agreement == pytest.approx(1.0) and not result.cache_hit
    assert {"loading", "calibrating", "quantizing", "building", "validating", "writing"} <= set(stages)
    again = _wait(_wait(client.send_goal_async(_goal(model, calib))).get_result_async()).result
    assert again.success and again.cache_hit and again.engine_path == result.engine_path


def test_cancel_stops_the_build(graph: tuple[Node, ActionClient, Path, Path]) -> None:
    _, client, model, calib = graph
    first_feedback = threading.Event()
    handle = _wait(client.send_goal_async(_goal(model, calib, auto_keep_sensitive=True),
                                          feedback_callback=lambda f: first_feedback.set()))
    assert first_feedback.wait(timeout=30)
    _wait(handle.cancel_goal_async())
    wrapped = _wait(handle.get_result_async())
    assert wrapped.status == 5  # GoalStatus.STATUS_CANCELED
    assert "cancelled" in wrapped.result.message and not wrapped.result.success


def test_second_goal_is_refused_while_one_builds(graph: tuple[Node, ActionClient, Path, Path]) -> None:
    _, client, model, calib = graph
    handles = [_wait(client.send_goal_async(_goal(model, calib, auto_keep_sensitive=True, calibration_method=m)))
               for m in ("entropy", "percentile")]
    results = [_wait(h.get_result_async()).result for h in handles]
    refused = [r for r in results if not r.success]
    assert len(refused) == 1 and "one build at a time" in refused[0].message
    assert any(r.success for r in results)


def test_bad_goal_fails_with_the_reason(graph: tuple[Node, ActionClient, Path, Path], tmp_path: Path) -> None:
    _, client, _, calib = graph
    result = _wait(_wait(client.send_goal_async(_goal(tmp_path / "missing.onnx", calib))).get_result_async()).result
    assert not result.success and "ONNX model not found" in result.message
