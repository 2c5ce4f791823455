"""The launch file and ``edge-ai-ros up`` get their nodes from the same pure function.

No rclpy, no launch: the launch file is loaded from its path and must not need launch_ros
to describe its nodes.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

from edge_ai_ros.cli import up
from edge_ai_ros.errors import ConfigError
from edge_ai_ros.ros.graph_spec import (
    LAUNCH_ARGUMENTS,
    GraphOptions,
    load_params_file,
    node_specs,
    parse_override,
)

ROOT = Path(__file__).resolve().parents[2]
LAUNCH_FILE = ROOT / "launch" / "perception.launch.py"
PARAMS = ROOT / "config" / "perception.yaml"


def _load_launch_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("perception_launch", LAUNCH_FILE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_launch_file_loads_without_launch_and_declares_described_arguments() -> None:
    module = _load_launch_module()
    assert "launch" not in sys.modules and "launch_ros" not in sys.modules
    names = [a.name for a in LAUNCH_ARGUMENTS]
    for required in ("model", "backend", "camera_topic", "params_file", "namespace", "use_camera_source",
                     "bag", "autostart", "use_lifecycle_manager"):
        assert required in names
    assert all(len(a.description) > 15 for a in LAUNCH_ARGUMENTS)
    with pytest.raises(ImportError, match="launch"):
        module.generate_launch_description()


def test_launch_file_and_runner_build_identical_nodes(tmp_path: Path) -> None:
    module = _load_launch_module()
    values = {"params_file": str(PARAMS), "namespace": "front", "model": "/m.manifest.json",
              "backend": "openvino", "camera_topic": "/camera/image_raw", "use_camera_source": "true",
              "bag": str(tmp_path), "autostart": "true", "use_lifecycle_manager": "true"}
    launched = module.graph_action_kwargs(values, "unused-default.yaml")
    args = argparse.Namespace(params=[str(PARAMS)], namespace="front", model="/m.manifest.json",
                              backend="openvino", camera_topic="/camera/image_raw", param=[],
                              lifecycle_manager=True, bag=str(tmp_path))
    runner = node_specs(up.options_from_args(args))
    assert [(s.lifecycle, module.node_action_kwargs(s)) for s in runner] == launched
    by_name = {kw["name"]: kw for _, kw in launched}
    assert set(by_name) == {"inference_node", "camera_source", "lifecycle_manager"}
    inference = by_name["inference_node"]["parameters"][0]
    assert inference["backend"] == "openvino" and inference["model_manifest"] == "/m.manifest.json"
    assert inference["autostart"] is False, "the lifecycle manager brings the node up"
    assert inference["qos_depth"] == load_params_file(PARAMS)["/**"]["qos_depth"]
    assert ("image", "/camera/image_raw") in by_name["inference_node"]["remappings"]
    assert by_name["camera_source"]["remappings"] == by_name["inference_node"]["remappings"]
    assert by_name["lifecycle_manager"]["parameters"][0]["node_names"] == ["inference_node"]


def test_params_files_merge_wildcard_then_node_keys_then_overrides(tmp_path: Path) -> None:
    base = _write(tmp_path / "a.yaml", "/**:\n  ros__parameters:\n    backend: auto\n    threads: 2\n"
                                       "camera_source:\n  ros__parameters:\n    rate: 2.0\n")
    extra = _write(tmp_path / "b.yaml", "/front/inference_node:\n  ros__parameters:\n    threads: 4\n"
                                        "/**:\n  ros__parameters:\n    threads: 1\n")
    options = GraphOptions(params_files=(str(base), str(extra)), namespace="front", bag=str(tmp_path),
                           use_camera_source=True,
                           overrides=("score_threshold:=0.5", "camera_source.loop:=true"))
    inference, source = node_specs(options)
    assert inference.parameters["threads"] == 4  # exact key beats the wildcard of the same file
    assert inference.parameters["score_threshold"] == 0.5
    assert source.parameters["rate"] == 2.0 and source.parameters["loop"] is True
    assert source.parameters["bag"] == str(tmp_path)


@pytest.mark.parametrize(("text", "expected"), [
    ("backend:=openvino", ("inference_node", "backend", "openvino")),
    ("threads:=2", ("inference_node", "threads", 2)),
    ("camera_source.fps:=30.0", ("camera_source", "fps", 30.0)),
    ("camera_source.restamp:=false", ("camera_source", "restamp", False)),
])
def test_overrides_are_typed_like_ros(text: str, expected: tuple[str, str, object]) -> None:
    assert parse_override(text) == expected


@pytest.mark.parametrize(("text", "match"), [("backend=openvino", "name:=value"), ("camera.fps:=1", "unknown node")])
def test_bad_overrides_are_refused(text: str, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        parse_override(text)


def test_camera_source_needs_a_bag() -> None:
    with pytest.raises(ConfigError, match="bag"):
        GraphOptions(use_camera_source=True)


def test_params_file_without_ros_parameters_is_refused(tmp_path: Path) -> None:
    path = _write(tmp_path / "bad.yaml", "inference_node:\n  backend: auto\n")
    with pytest.raises(ConfigError, match="ros__parameters"):
        load_params_file(path)


def test_cameras_reach_the_inference_node_from_launch_and_from_up() -> None:
    module = _load_launch_module()
    launched = module.graph_action_kwargs({"params_file": str(PARAMS), "cameras": "front, left,rear"}, "unused.yaml")
    args = argparse.Namespace(params=[str(PARAMS)], namespace="", model="", backend="", camera_topic="image",
                              param=[], lifecycle_manager=False, bag="", cameras="[front,left,rear]")
    runner = node_specs(up.options_from_args(args))
    assert [(s.lifecycle, module.node_action_kwargs(s)) for s in runner] == launched
    assert launched[0][1]["parameters"][0]["cameras"] == ["front", "left", "rear"]
    without = node_specs(GraphOptions(params_files=(str(PARAMS),)))
    assert "cameras" not in without[0].parameters  # the params file's choice (none: one camera)
