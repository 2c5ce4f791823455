"""The inference node's parameters: one table with descriptions, types and ranges.

Ranges live in the ParameterDescriptor, so rclpy itself refuses an out-of-range value at set
time with a reason; choices and state-dependent rules are checked in :func:`check_change`,
which the node's set-parameters callback calls. Parameters that shape what configure builds
(model, backend, QoS, queue) may only change while the node is unconfigured: they take
effect at the next configure. The others are live (:func:`live_changes`): the decoder's
thresholds and max_image_pixels apply from the next frame, the rollback policy from the next
swap, as on a vehicle where detection thresholds are tuned with ``ros2 param set``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path

from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor, ParameterType
from rclpy.node import Node
from rclpy.parameter import Parameter

from edge_ai_ros.errors import ConfigError
from edge_ai_ros.ros.spin_thread import EXECUTOR_KINDS

BACKENDS = ("auto", "onnxruntime", "openvino", "tensorrt")
RELIABILITIES = ("best_effort", "reliable")
INPUT_QOS_MODES = ("auto", "reliable", "best_effort", "sensor_data")
DROP_POLICIES = ("latest", "none")
DEMO_MANIFEST = Path(__file__).resolve().parents[1] / "assets" / "demo_detector" / "detector.onnx.manifest.json"


def _check_choice(field: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ConfigError(field, f"{value!r} is not one of {', '.join(choices)}", fix=f"set {field} to one of {choices}")


def _param_type(value: object) -> int:
    if isinstance(value, bool):
        return ParameterType.PARAMETER_BOOL
    if isinstance(value, int):
        return ParameterType.PARAMETER_INTEGER
    if isinstance(value, float):
        return ParameterType.PARAMETER_DOUBLE
    return ParameterType.PARAMETER_STRING


@dataclass(frozen=True, kw_only=True)
class NodeSettings:
    """Validated parameter values of one configure (the node never reads parameters mid-frame)."""

    model_manifest: str = str(DEMO_MANIFEST)
    backend: str = "auto"
    threads: int = 0
    score_threshold: float = -1.0
    iou_threshold: float = -1.0
    max_detections: int = 0
    top_k: int = 0
    qos_depth: int = 5
    qos_reliability: str = "best_effort"
    input_qos: str = "auto"
    drop_policy: str = "latest"
    queue_size: int = 30
    frame_executor: str = "events"
    publish_vision_msgs: bool = False
    publish_frame_timings: bool = False
    parallel_resize: bool = True
    diagnostics_period_s: float = 1.0
    autostart: bool = True
    max_image_pixels: int = 4096 * 4096
    warmup_runs: int = 3
    warmup_budget_s: float = 2.0
    auto_rollback: bool = False
    rollback_window_s: float = 5.0
    min_output_rate_ratio: float = 0.5
    min_mean_confidence: float = 0.0
    swap_output_wait_s: float = 1.0

    def __post_init__(self) -> None:
        _check_choice("backend", self.backend, BACKENDS)
        _check_choice("qos_reliability", self.qos_reliability, RELIABILITIES)
        _check_choice("input_qos", self.input_qos, INPUT_QOS_MODES)
        _check_choice("drop_policy", self.drop_policy, DROP_POLICIES)
        _check_choice("frame_executor", self.frame_executor, EXECUTOR_KINDS)


@dataclass(frozen=True, kw_only=True)
class ParamSpec:
    name: str
    description: str
    read_only: bool = False
    int_range: tuple[int, int] | None = None
    float_range: tuple[float, float] | None = None
    at_configure: bool = False  # only changeable while unconfigured


PARAMS: tuple[ParamSpec, ...] = (
    ParamSpec(name="model_manifest", at_configure=True,
              description="Path of the model's *.manifest.json; empty: the shipped demo detector."),
    ParamSpec(name="backend", at_configure=True,
              description=f"Engine backend: one of {', '.join(BACKENDS)}; auto picks the fastest available."),
    ParamSpec(name="threads", at_configure=True, int_range=(0, 64),
              description="CPU threads for the engine; 0 lets the backend decide."),
    ParamSpec(name="score_threshold", float_range=(-1.0, 1.0),
              description="Minimum detection score; -1 keeps the manifest's value. Live: applies from the next frame."),
    ParamSpec(name="iou_threshold", float_range=(-1.0, 1.0),
              description="NMS IoU threshold; -1 keeps the manifest's value. Live: applies from the next frame."),
    ParamSpec(name="max_detections", int_range=(0, 10000),
              description="Most detections per frame; 0 keeps the manifest's value. Live: applies from the next frame."),
    ParamSpec(name="top_k", int_range=(0, 1000),
              description="Classes reported by a classifier; 0 keeps the manifest's value. Live: applies from the next frame."),
    ParamSpec(name="qos_depth", at_configure=True, int_range=(1, 1000),
              description="History depth of the image subscriptions (keep last)."),
    ParamSpec(name="qos_reliability", at_configure=True,
              description="Image subscription reliability while no publisher is discovered (input_qos auto): "
                          "best_effort (matches any camera) or reliable (replay)."),
    ParamSpec(name="input_qos", at_configure=True,
              description="Image subscription QoS: auto (follow the discovered publishers' reliability and "
                          "durability, re-matched when they change), reliable, best_effort, or sensor_data "
                          "(best effort, keep last 5). See docs/camera_drivers.md."),
    ParamSpec(name="drop_policy", at_configure=True,
              description="latest: process only the newest frame, count the rest as dropped; "
                          "none: process every frame in order with a bounded queue (replay regression)."),
    ParamSpec(name="queue_size", at_configure=True, int_range=(1, 1000),
              description="Frames held before backpressure when drop_policy is none."),
    ParamSpec(name="frame_executor", at_configure=True,
              description="Executor of the image subscriptions' thread: events (rclpy's C++ EventsExecutor; "
                          "falls back to single where rclpy has none, e.g. Humble) or single "
                          "(SingleThreadedExecutor)."),
    ParamSpec(name="publish_vision_msgs", at_configure=True,
              description="Also publish vision_msgs/Detection2DArray on detections_vision (if vision_msgs imports)."),
    ParamSpec(name="publish_frame_timings", at_configure=True,
              description="Publish per-frame stage times (std_msgs/Float64MultiArray) on ~/frame_timings, "
                          "after each output; for benchmarks and profiling."),
    ParamSpec(name="parallel_resize", at_configure=True,
              description="Resize frames on two threads (bit-identical to one; used when the vertical "
                          "scale is an integer, e.g. 640x480 -> 320x240). Helps only with a free core."),
    ParamSpec(name="diagnostics_period_s", read_only=True, float_range=(0.1, 60.0),
              description="Seconds between /diagnostics messages."),
    ParamSpec(name="autostart", read_only=True,
              description="Configure and activate on start; false waits in unconfigured for a lifecycle manager."),
    ParamSpec(name="max_image_pixels", int_range=(1, 1 << 28),
              description="Frames with more pixels than this are rejected (protects memory). Live."),
    ParamSpec(name="warmup_runs", at_configure=True, int_range=(0, 100),
              description="Inferences run at configure so the first real frame is not slow."),
    ParamSpec(name="warmup_budget_s", at_configure=True, float_range=(0.0, 60.0),
              description="Warm-up stops after this many seconds even if warmup_runs are not done "
                          "(bounds configure and swaps)."),
    ParamSpec(name="auto_rollback",
              description="After a ~/swap_model, roll back by itself if the new model's output rate or "
                          "mean confidence collapses within rollback_window_s."),
    ParamSpec(name="rollback_window_s", float_range=(0.5, 60.0),
              description="Seconds after a swap over which auto_rollback judges the new model."),
    ParamSpec(name="min_output_rate_ratio", float_range=(0.0, 1.0),
              description="auto_rollback: roll back when (outputs/frames in) of the new model falls below "
                          "this fraction of the old model's; 0 disables the rate check."),
    ParamSpec(name="min_mean_confidence", float_range=(0.0, 1.0),
              description="auto_rollback: roll back when the new model's mean per-frame top score is below "
                          "this; 0 disables the confidence check."),
    ParamSpec(name="swap_output_wait_s", float_range=(0.0, 10.0),
              description="How long a swap answer waits for the new model's first output to measure the "
                          "output gap."),
)
_SPECS = {spec.name: spec for spec in PARAMS}
_DEFAULTS = NodeSettings()


def descriptor(spec: ParamSpec) -> ParameterDescriptor:
    desc = ParameterDescriptor(name=spec.name, description=spec.description, read_only=spec.read_only)
    value = getattr(_DEFAULTS, spec.name)
    desc.type = _param_type(value)
    if spec.int_range is not None:
        desc.integer_range = [IntegerRange(from_value=spec.int_range[0], to_value=spec.int_range[1], step=1)]
    if spec.float_range is not None:
        desc.floating_point_range = [
            FloatingPointRange(from_value=spec.float_range[0], to_value=spec.float_range[1], step=0.0)
        ]
    return desc


def declare_parameters(node: Node) -> None:
    """Declare every parameter; values given as overrides (-p, params file, constructor) win."""
    for spec in PARAMS:
        node.declare_parameter(spec.name, getattr(_DEFAULTS, spec.name), descriptor(spec))


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


DECODER_PARAMS = ("score_threshold", "iou_threshold", "max_detections", "top_k")


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
