"""Launch the edge_ai_ros perception graph on a vehicle.

    ros2 launch edge_ai_ros perception.launch.py camera_topic:=/camera/image_raw \
        model:=/opt/models/detector.int8.plan.manifest.json backend:=tensorrt

Several cameras on one node (one engine, frames batched across cameras; each NAME subscribes
NAME/image_raw and NAME/image_raw/compressed and publishes NAME/detections; parameters
camera_priorities, max_batch, batch_timeout_ms, max_age_ms in the params file)::

    ros2 launch edge_ai_ros perception.launch.py cameras:=front,left,right,rear

``model:=`` also takes an ONNX file (``model:=yolov8n.onnx``): it is inspected (or its
``.onnx.manifest.json`` used) and compiled at FP32 for the backend, cached after the first start.

Thin on purpose: the arguments come from edge_ai_ros.ros.graph_spec.LAUNCH_ARGUMENTS and
the nodes, parameters and remappings from graph_spec.node_specs(), the same function
``edge-ai-ros up`` runs in one process, so the two cannot drift. ``launch`` and
``launch_ros`` are imported inside the functions that need them, so this file can be loaded
(and tested) where they are not installed.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from edge_ai_ros.ros.graph_spec import LAUNCH_ARGUMENTS, NodeSpec, node_specs, options_from_launch


def default_params_file() -> str:
    """share/edge_ai_ros/config/perception.yaml of the installed package."""
    from ament_index_python.packages import get_package_share_directory

    return os.path.join(get_package_share_directory("edge_ai_ros"), "config", "perception.yaml")


def serving_model(model: str, backend: str) -> str:
    """model:=x.onnx is inspected and compiled (FP32, cached) into a manifest; a manifest passes through."""
    if not model:
        return model
    from edge_ai_ros.inspection.serve_model import manifest_for_serving

    return manifest_for_serving(model, backend=backend)


def node_action_kwargs(spec: NodeSpec) -> dict[str, Any]:
    """Keyword arguments of the launch_ros Node / LifecycleNode action for one spec."""
    return {
        "package": spec.package, "executable": spec.executable, "name": spec.name,
        "namespace": spec.namespace, "parameters": [dict(spec.parameters)],
        "remappings": list(spec.remappings), "output": "screen",
    }


def graph_action_kwargs(values: Mapping[str, str], params_file: str) -> list[tuple[bool, dict[str, Any]]]:
    """(is lifecycle node, action kwargs) for every node the launch arguments ask for."""
    return [(spec.lifecycle, node_action_kwargs(spec)) for spec in node_specs(options_from_launch(values, params_file))]


def _node_actions(context: Any) -> list[Any]:
    from launch.substitutions import LaunchConfiguration
    from launch_ros.actions import LifecycleNode, Node

    values = {arg.name: LaunchConfiguration(arg.name).perform(context) for arg in LAUNCH_ARGUMENTS}
    values["model"] = serving_model(values.get("model", ""), values.get("backend", ""))
    params_file = values.get("params_file") or default_params_file()
    return [LifecycleNode(**kwargs) if lifecycle else Node(**kwargs)
            for lifecycle, kwargs in graph_action_kwargs(values, params_file)]


def generate_launch_description() -> Any:
    from launch.actions import DeclareLaunchArgument, OpaqueFunction

    from launch import LaunchDescription

    arguments = [DeclareLaunchArgument(arg.name, default_value=arg.default, description=arg.description)
                 for arg in LAUNCH_ARGUMENTS]
    return LaunchDescription([*arguments, OpaqueFunction(function=_node_actions)])
