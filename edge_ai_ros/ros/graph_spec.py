"""The node graph as data: (params files, launch options, overrides) -> node specs.

The vehicle's launch file and the in-process runner (``edge-ai-ros up``) both call
:func:`node_specs`, so the list of nodes, their parameters and remappings cannot drift
between the two. Pure Python (PyYAML only): importable without rclpy or launch, which is
what lets tests check the launch file here.

Parameter precedence, lowest first: each params file in order (standard ROS params-file
format, ``/**`` and node-name keys), then the launch options (model, backend, bag,
autostart), then ``-p`` overrides.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from edge_ai_ros.errors import ConfigError

PACKAGE = "edge_ai_ros"
INFERENCE_NODE = "inference_node"
CAMERA_SOURCE = "camera_source"
LIFECYCLE_MANAGER = "lifecycle_manager"
EXECUTABLES = (INFERENCE_NODE, CAMERA_SOURCE, LIFECYCLE_MANAGER)


@dataclass(frozen=True, kw_only=True)
class LaunchArg:
    """One launch argument: the launch file declares exactly these, the runner mirrors them."""

    name: str
    default: str
    description: str


LAUNCH_ARGUMENTS: tuple[LaunchArg, ...] = (
    LaunchArg(name="params_file", default="",
              description="ROS params YAML for all nodes; empty = share/edge_ai_ros/config/perception.yaml"),
    LaunchArg(name="namespace", default="", description="Namespace of every node of the graph"),
    LaunchArg(name="model", default="",
              description="Model manifest (*.manifest.json), or an .onnx file (inspected, compiled FP32, cached) "
                          "to serve; empty = the params file's model_manifest"),
    LaunchArg(name="backend", default="",
              description="Engine backend: auto, onnxruntime, openvino or tensorrt; empty = the params file's"),
    LaunchArg(name="camera_topic", default="image",
              description="Camera image topic the node subscribes to (its compressed transport is "
                          "<camera_topic>/compressed); relative names resolve in the namespace"),
    LaunchArg(name="cameras", default="",
              description="Comma-separated camera names served by one inference node (e.g. front,left,right,rear): "
                          "each NAME subscribes NAME/image_raw and NAME/image_raw/compressed and publishes "
                          "NAME/detections; empty = the params file's cameras (default: one camera on camera_topic)"),
    LaunchArg(name="use_camera_source", default="false",
              description="Also start camera_source to replay a rosbag2 bag onto camera_topic"),
    LaunchArg(name="bag", default="", description="rosbag2 bag folder camera_source replays (use_camera_source)"),
    LaunchArg(name="autostart", default="true",
              description="inference_node configures and activates itself; ignored with use_lifecycle_manager"),
    LaunchArg(name="use_lifecycle_manager", default="false",
              description="Start lifecycle_manager, which brings inference_node up (autostart off on the node)"),
)


@dataclass(frozen=True, kw_only=True)
class NodeSpec:
    """One node to start: what launch_ros.actions.Node / LifecycleNode and the runner need."""

    name: str
    executable: str
    namespace: str = ""
    parameters: Mapping[str, Any] = field(default_factory=dict)
    remappings: tuple[tuple[str, str], ...] = ()
    lifecycle: bool = False
    package: str = PACKAGE


@dataclass(frozen=True, kw_only=True)
class GraphOptions:
    """What the launch arguments / ``up`` options say, parsed (see LAUNCH_ARGUMENTS)."""

    params_files: tuple[str, ...] = ()
    namespace: str = ""
    model: str = ""
    backend: str = ""
    camera_topic: str = "image"
    cameras: tuple[str, ...] = ()  # empty: the params file's (the inference node's ``cameras``)
    use_camera_source: bool = False
    bag: str = ""
    autostart: bool = True
    use_lifecycle_manager: bool = False
    overrides: tuple[str, ...] = ()  # "[node.]name:=value"; bare names go to inference_node

    def __post_init__(self) -> None:
        if self.use_camera_source and not self.bag:
            raise ConfigError("bag", "use_camera_source is true but no bag is given",
                              fix="pass bag:=/path/to/rosbag2_dir (or --bag)")
        if not self.camera_topic:
            raise ConfigError("camera_topic", "is empty", fix="use 'image' or the camera's topic")


def parse_bool(field_name: str, text: str) -> bool:
    """Launch-style boolean strings."""
    lowered = text.strip().lower()
    if lowered in ("true", "1", "yes", "on"):
        return True
    if lowered in ("false", "0", "no", "off"):
        return False
    raise ConfigError(field_name, f"{text!r} is not a boolean", fix="use true or false")


def parse_cameras(text: str) -> tuple[str, ...]:
    """``front,left`` (or ``[front, left]``) -> ("front", "left"); the node checks the names at configure."""
    return tuple(name.strip() for name in text.strip().strip("[]").split(",") if name.strip())


def parse_value(text: str) -> Any:
    """A ``-p name:=value`` value, typed as ROS does it (YAML rules: 1 int, 1.0 float, true bool)."""
    try:
        return yaml.safe_load(text) if text else ""
    except yaml.YAMLError:
        return text


def parse_override(text: str) -> tuple[str, str, Any]:
    """``[node.]name:=value`` -> (node, name, value); a bare name is inference_node's."""
    if ":=" not in text:
        raise ConfigError("-p", f"{text!r} is not name:=value", fix="write e.g. -p backend:=openvino")
    key, value = text.split(":=", 1)
    node, _, name = key.rpartition(".")
    node = node or INFERENCE_NODE
    if node not in EXECUTABLES or not name:
        raise ConfigError("-p", f"{text!r}: unknown node {node!r}",
                          fix=f"prefix with one of {', '.join(EXECUTABLES)} or none (inference_node)")
    return node, name, parse_value(value)


def load_params_file(path: str | Path) -> dict[str, dict[str, Any]]:
    """A ROS params file as {node key: {param: value}} (keys as written: '/**', 'name', '/ns/name')."""
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as err:
        raise ConfigError("params_file", f"cannot read {path}: {err}", fix="pass a readable ROS params YAML") from err
    if not isinstance(data, dict):
        raise ConfigError("params_file", f"{path} is not a mapping of node names", fix="see config/perception.yaml")
    out: dict[str, dict[str, Any]] = {}
    for key, section in data.items():
        params = section.get("ros__parameters") if isinstance(section, dict) else None
        if not isinstance(params, dict):
            raise ConfigError("params_file", f"{path}: section {key!r} has no ros__parameters mapping",
                              fix="write '<node>:\\n  ros__parameters:\\n    name: value'")
        out[str(key)] = _flatten(params)
    return out


def _flatten(params: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested YAML mappings become dotted parameter names, as rcl's parser does."""
    flat: dict[str, Any] = {}
    for key, value in params.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat


def _applies(key: str, node: str, namespace: str) -> bool:
    fqn = f"/{namespace.strip('/')}/{node}" if namespace.strip("/") else f"/{node}"
    return key in ("/**", node, fqn, fqn.lstrip("/"), f"/**/{node}")


def params_for(node: str, namespace: str, files: Sequence[Mapping[str, Mapping[str, Any]]]) -> dict[str, Any]:
    """The parameters of ``node`` from loaded params files, later files and exact keys winning."""
    merged: dict[str, Any] = {}
    for sections in files:
        for key in sorted(sections, key=lambda k: k.startswith("/**") is False):  # wildcards first
            if _applies(key, node, namespace):
                merged.update(sections[key])
    return merged


def _remaps(camera_topic: str) -> tuple[tuple[str, str], ...]:
    if camera_topic == "image":
        return ()
    return (("image", camera_topic), ("image/compressed", f"{camera_topic}/compressed"))


def node_specs(options: GraphOptions) -> tuple[NodeSpec, ...]:
    """The nodes to start, in start order, with their merged parameters and remappings."""
    files = [load_params_file(p) for p in options.params_files]
    ns = options.namespace
    overrides: dict[str, dict[str, Any]] = {name: {} for name in EXECUTABLES}
    for text in options.overrides:
        node, name, value = parse_override(text)
        overrides[node][name] = value
    inference = params_for(INFERENCE_NODE, ns, files)
    inference.update({k: v for k, v in (("model_manifest", options.model), ("backend", options.backend)) if v})
    if options.cameras:
        inference["cameras"] = list(options.cameras)
    inference["autostart"] = options.autostart and not options.use_lifecycle_manager
    inference.update(overrides[INFERENCE_NODE])
    remaps = _remaps(options.camera_topic)
    specs = [NodeSpec(name=INFERENCE_NODE, executable=INFERENCE_NODE, namespace=ns, parameters=inference,
                      remappings=remaps, lifecycle=True)]
    if options.use_camera_source:
        source = params_for(CAMERA_SOURCE, ns, files)
        source["bag"] = options.bag
        source.update(overrides[CAMERA_SOURCE])
        specs.append(NodeSpec(name=CAMERA_SOURCE, executable=CAMERA_SOURCE, namespace=ns, parameters=source,
                              remappings=remaps))
    if options.use_lifecycle_manager:
        manager = params_for(LIFECYCLE_MANAGER, ns, files)
        manager.setdefault("node_names", [INFERENCE_NODE])
        manager.setdefault("autostart", True)
        manager.update(overrides[LIFECYCLE_MANAGER])
        specs.append(NodeSpec(name=LIFECYCLE_MANAGER, executable=LIFECYCLE_MANAGER, namespace=ns,
                              parameters=manager))
    return tuple(specs)


def options_from_launch(values: Mapping[str, str], default_params_file: str) -> GraphOptions:
    """GraphOptions from launch-argument strings (the launch file's OpaqueFunction calls this)."""
    return GraphOptions(
        params_files=(values.get("params_file") or default_params_file,),
        namespace=values.get("namespace", ""),
        model=values.get("model", ""),
        backend=values.get("backend", ""),
        camera_topic=values.get("camera_topic", "image") or "image",
        cameras=parse_cameras(values.get("cameras", "")),
        use_camera_source=parse_bool("use_camera_source", values.get("use_camera_source", "false")),
        bag=values.get("bag", ""),
        autostart=parse_bool("autostart", values.get("autostart", "true")),
        use_lifecycle_manager=parse_bool("use_lifecycle_manager", values.get("use_lifecycle_manager", "false")),
    )
