"""The inference node's parameters in ROS: declarations, descriptors and change rules.

The definitions (type, default, range, choices, description, when it is read) live in one
place, :class:`edge_ai_ros.serving.settings.NodeSettings`; this module turns them into
ParameterDescriptors, so rclpy itself refuses an out-of-range value at set time with a
reason, and checks choices and state-dependent rules in :func:`check_change`, which the
node's set-parameters callback calls. Parameters read at configure (model, backend, QoS,
queue) may only change while the node is unconfigured: they take effect at the next
configure. The live ones (:func:`live_changes`) apply from the next frame (decoder
thresholds, max_image_pixels) or the next swap (rollback policy), as on a vehicle where
detection thresholds are tuned with ``ros2 param set``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import fields, replace
from typing import Any

from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor, ParameterType
from rclpy.exceptions import ParameterUninitializedException
from rclpy.node import Node
from rclpy.parameter import Parameter

from edge_ai_ros.errors import ConfigError
from edge_ai_ros.serving.settings import DECODER_PARAMS, DEMO_MANIFEST, NodeSettings, ParamSpec, parameters

__all__ = ["DECODER_PARAMS", "DEMO_MANIFEST", "NodeSettings", "as_overrides", "check_change", "declare_parameters",
           "descriptor", "live_changes", "read_settings"]

_SPECS = {name: spec for name, _, spec in parameters()}


_ARRAY_TYPES = {"string": Parameter.Type.STRING_ARRAY, "integer": Parameter.Type.INTEGER_ARRAY}


def _param_type(value: object, items: str = "") -> int:
    if items:
        return int(_ARRAY_TYPES[items].value)
    if isinstance(value, bool):
        return int(ParameterType.PARAMETER_BOOL)
    if isinstance(value, int):
        return int(ParameterType.PARAMETER_INTEGER)
    if isinstance(value, float):
        return int(ParameterType.PARAMETER_DOUBLE)
    return int(ParameterType.PARAMETER_STRING)


def descriptor(name: str, default: Any, spec: ParamSpec) -> ParameterDescriptor:
    """The ParameterDescriptor of one parameter: description, read-only, type and range."""
    desc = ParameterDescriptor(name=name, description=spec.description, read_only=spec.read_only)
    desc.type = _param_type(default, spec.items)
    bounds = spec.value_range
    if bounds is not None and isinstance(default, int) and not isinstance(default, bool):
        desc.integer_range = [IntegerRange(from_value=int(bounds[0]), to_value=int(bounds[1]), step=1)]
    elif bounds is not None:
        desc.floating_point_range = [FloatingPointRange(from_value=float(bounds[0]), to_value=float(bounds[1]),
                                                        step=0.0)]
    return desc


def declare_parameters(node: Node) -> None:
    """Declare every parameter; values given as overrides (-p, params file, constructor) win."""
    for name, default, spec in parameters():
        if spec.items:
            _declare_array(node, name, default, spec)
        else:
            node.declare_parameter(name, default, descriptor(name, default, spec))


def _declare_array(node: Node, name: str, default: tuple[Any, ...], spec: ParamSpec) -> None:
    """A typed array parameter: rclpy infers an empty list's type as bytes, so declare the type, then the value."""
    kind = _ARRAY_TYPES[spec.items]
    node.declare_parameter(name, kind, descriptor(name, default, spec))
    try:
        node.get_parameter(name)
    except ParameterUninitializedException:  # no override given: the default
        node.set_parameters([Parameter(name, kind, list(default))])


def as_overrides(values: Mapping[str, object]) -> list[Parameter]:
    """A name -> value mapping (e.g. the runner's YAML section) as rclpy parameter overrides."""
    unknown = set(values) - set(_SPECS)
    if unknown:
        raise ConfigError("parameters", f"unknown name(s) {sorted(unknown)}", fix=f"use one of {sorted(_SPECS)}")
    return [Parameter(name, value=value) for name, value in values.items()]


def read_settings(node: Node) -> NodeSettings:
    """The node's current parameters as a validated NodeSettings (raises ConfigError)."""
    values = {f.name: node.get_parameter(f.name).value for f in fields(NodeSettings)}
    values["model_manifest"] = values["model_manifest"] or str(DEMO_MANIFEST)
    return NodeSettings(**values)


def live_changes(settings: NodeSettings, params: Iterable[Parameter]) -> NodeSettings:
    """``settings`` with the accepted changes of live parameters applied (the others wait for configure)."""
    changes = {p.name: p.value for p in params
               if p.name in _SPECS and not (_SPECS[p.name].at_configure or _SPECS[p.name].read_only)}
    return replace(settings, **changes) if changes else settings


def check_change(params: Iterable[Parameter], *, unconfigured: bool) -> str:
    """Why this set of parameter changes is refused ("" when it is accepted)."""
    for param in params:
        spec = _SPECS.get(param.name)
        if spec is None:
            continue
        if spec.at_configure and not unconfigured:
            return f"{param.name} is read at configure; deactivate and clean up the node first, then configure"
        try:
            NodeSettings(**{param.name: param.value})
        except ConfigError as err:
            return str(err)
        except TypeError as err:
            return f"{param.name}: {err}"
    return ""
