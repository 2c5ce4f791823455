"""The in-process runner brings inference_node up through lifecycle_manager when asked.

With ``use_lifecycle_manager`` the node starts with autostart off and stays unconfigured until
the manager (node_names [inference_node], autostart true) configures and activates it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("rclpy")
pytest.importorskip("edge_ai_ros.msg", reason="the project's interfaces are not built in this environment")

from tiny_detector import build_detector  # noqa: E402

from edge_ai_ros.ros.drivers.graph import GraphRunner, lifecycle_state  # noqa: E402
from edge_ai_ros.ros.graph_spec import INFERENCE_NODE, LIFECYCLE_MANAGER, GraphOptions, node_specs  # noqa: E402

PARAMS = Path(__file__).resolve().parents[2] / "config" / "perception.yaml"


def test_lifecycle_manager_brings_the_inference_node_up(tmp_path: Path) -> None:
    manifest = build_detector(tmp_path / "model")
    specs = node_specs(GraphOptions(params_files=(str(PARAMS),), namespace="lm", model=str(manifest),
                                    backend="onnxruntime", use_lifecycle_manager=True))
    by_name = {s.executable: s for s in specs}
    assert by_name[INFERENCE_NODE].parameters["autostart"] is False
    assert by_name[LIFECYCLE_MANAGER].parameters["node_names"] == [INFERENCE_NODE]
    with GraphRunner(specs, collect=False) as runner:
        runner.wait_inference_active(30.0)
        manager = runner.nodes[LIFECYCLE_MANAGER]
        assert runner.wait_until(manager.startup_done.is_set, 10.0)
        assert manager.startup_ok
        assert manager.states() == {INFERENCE_NODE: "active"}
        assert lifecycle_state(runner.nodes[INFERENCE_NODE]) == "active"
        ok, message = manager.shutdown_nodes()
        assert ok, message
        assert lifecycle_state(runner.nodes[INFERENCE_NODE]) == "unconfigured"

