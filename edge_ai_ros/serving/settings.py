"""The inference node's parameters, defined once: name, type, default, range, choices, description.

Each field of :class:`NodeSettings` carries its parameter's whole definition in its metadata
(:func:`param`). Everything else is generated from it: the ROS declarations, descriptors and
change rules (ros/params.py), the documented config/perception.yaml and docs/parameters.md
(``edge-ai-ros params --yaml`` / ``--markdown``; a test keeps the checked-in files equal to
what is generated). ROS-free, so the documents build without rclpy.

When a parameter is read (:class:`ParamSpec.when`):

- ``configure``: when the node configures; change it while the node is unconfigured;
- ``live``: may change any time (``ros2 param set``), applies from the next frame;
- ``swap``: the rollback policy, may change any time, read at each swap;
- ``start``: read once when the node starts (read-only afterwards).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edge_ai_ros.errors import ConfigError
from edge_ai_ros.imaging.raw import DEFAULT_MAX_PIXELS

BACKENDS = ("auto", "onnxruntime", "openvino", "tensorrt")
RELIABILITIES = ("best_effort", "reliable")
INPUT_QOS_MODES = ("auto", "reliable", "best_effort", "sensor_data")
DROP_POLICIES = ("latest", "none")
FRAME_EXECUTORS = ("events", "single")
WHEN = ("configure", "live", "swap", "start")
DEMO_MANIFEST = Path(__file__).resolve().parents[1] / "assets" / "demo_detector" / "detector.onnx.manifest.json"


@dataclass(frozen=True, kw_only=True)
class ParamSpec:
    """One parameter's definition beyond its name, type and default (those are the field's)."""

    description: str
    when: str
    value_range: tuple[int, int] | tuple[float, float] | None = None  # inclusive
    choices: tuple[str, ...] = ()
    yaml_example: str = ""  # written commented out instead of the default (e.g. a path)
    items: str = ""  # array parameters: "string" or "integer" (the default is then a tuple)

    @property
    def at_configure(self) -> bool:
        return self.when == "configure"

    @property
    def read_only(self) -> bool:
        return self.when == "start"


def param(description: str, *, when: str, value_range: tuple[int, int] | tuple[float, float] | None = None,
          choices: tuple[str, ...] = (), yaml_example: str = "", items: str = "") -> dict[str, ParamSpec]:
    """Field metadata holding one parameter's definition: ``field(default=..., metadata=param(...))``."""
    if when not in WHEN:
        raise ConfigError("when", f"{when!r} is not one of {WHEN}")
    return {"param": ParamSpec(description=description, when=when, value_range=value_range, choices=choices,
                               yaml_example=yaml_example, items=items)}


def _check_choice(name: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ConfigError(name, f"{value!r} is not one of {', '.join(choices)}", fix=f"set {name} to one of {choices}")


_ITEM_TYPES = {"string": str, "integer": int}


def _as_array(name: str, value: Any, items: str) -> tuple[Any, ...]:
    """A list (or rclpy's array) of ``items`` as a tuple; anything else is refused naming the parameter."""
    kind = _ITEM_TYPES[items]
    if isinstance(value, str | bytes) or not hasattr(value, "__iter__"):
        raise ConfigError(name, f"{value!r} is not a list", fix=f"give a list of {items}s, e.g. [a, b] or []")
    out = tuple(value)
    if not all(isinstance(v, kind) and not isinstance(v, bool) for v in out):
        raise ConfigError(name, f"{list(out)!r} is not a list of {items}s", fix=f"give {items} values only")
    return out


def _check_range(name: str, value: Any, bounds: tuple[int, int] | tuple[float, float]) -> None:
    if not bounds[0] <= value <= bounds[1]:
        raise ConfigError(name, f"{value!r} is outside {bounds[0]}..{bounds[1]}", fix=f"set {name} within that range")


@dataclass(frozen=True, kw_only=True)
class NodeSettings:
    """Validated parameter values of one configure (the node never reads parameters mid-frame)."""

    model_manifest: str = field(default=str(DEMO_MANIFEST), metadata=param(
        "Path of the model's *.manifest.json; empty: the shipped demo detector "
        "(edge_ai_ros/assets/demo_detector/detector.onnx.manifest.json).",
        when="configure", yaml_example="/path/to/model.onnx.manifest.json"))
    backend: str = field(default="auto", metadata=param(
        "Engine backend; auto picks the fastest installed backend that reads the artifact and logs why.",
        when="configure", choices=BACKENDS))
    threads: int = field(default=0, metadata=param(
        "CPU threads for the engine; 0 lets the backend use every core this process may use.",
        when="configure", value_range=(0, 64)))
    score_threshold: float = field(default=-1.0, metadata=param(
        "Minimum detection score; -1 keeps the manifest's decoder value.", when="live", value_range=(-1.0, 1.0)))
    iou_threshold: float = field(default=-1.0, metadata=param(
        "NMS IoU threshold; -1 keeps the manifest's decoder value.", when="live", value_range=(-1.0, 1.0)))
    max_detections: int = field(default=0, metadata=param(
        "Most detections per frame; 0 keeps the manifest's value.", when="live", value_range=(0, 10000)))
    top_k: int = field(default=0, metadata=param(
        "Classes reported by a classification model; 0 keeps the manifest's value.",
        when="live", value_range=(0, 1000)))
    qos_depth: int = field(default=5, metadata=param(
        "History depth of the image subscriptions (keep last).", when="configure", value_range=(1, 1000)))
    qos_reliability: str = field(default="best_effort", metadata=param(
        "Image subscription reliability while no publisher is discovered (input_qos auto): best_effort "
        "(matches any camera) or reliable (bag replay).",
        when="configure", choices=RELIABILITIES))
    input_qos: str = field(default="auto", metadata=param(
        "Image subscription QoS: auto (follow the discovered publishers' reliability and durability, "
        "re-matched when they change), reliable, best_effort, or sensor_data (best effort, keep last 5). "
        "See docs/camera_drivers.md.",
        when="configure", choices=INPUT_QOS_MODES))
    drop_policy: str = field(default="latest", metadata=param(
        "latest: work on the newest frame only and count skipped frames as dropped (cameras); "
        "none: every frame in order through a bounded queue with backpressure (replay regression).",
        when="configure", choices=DROP_POLICIES))
    queue_size: int = field(default=30, metadata=param(
        "Frames held before backpressure when drop_policy is none.", when="configure", value_range=(1, 1000)))
    frame_executor: str = field(default="events", metadata=param(
        "Executor of the image subscriptions' own thread: events (rclpy's C++ EventsExecutor; falls back "
        "to single where rclpy has none, e.g. Humble) or single (SingleThreadedExecutor). "
        "edge-ai-ros bench-node measures the difference.",
        when="configure", choices=FRAME_EXECUTORS))
    publish_vision_msgs: bool = field(default=False, metadata=param(
        "Also publish vision_msgs/Detection2DArray on detections_vision (needs vision_msgs).", when="configure"))
    publish_frame_timings: bool = field(default=False, metadata=param(
        "Publish per-frame stage times on ~/frame_timings (std_msgs/Float64MultiArray, monotonic seconds) "
        "after each output; for benchmarks and profiling.", when="configure"))
    parallel_resize: bool = field(default=True, metadata=param(
        "Resize frames on two threads (bit-identical to one; only when the vertical scale is an integer, "
        "e.g. 640x480 -> 320x240, and the model's resample is bilinear). Helps only with a free core.",
        when="configure"))
    diagnostics_period_s: float = field(default=1.0, metadata=param(
        "Seconds between /diagnostics messages.", when="start", value_range=(0.1, 60.0)))
    autostart: bool = field(default=True, metadata=param(
        "true: configure and activate on start; false: wait in unconfigured for a lifecycle manager.",
        when="start"))
    max_image_pixels: int = field(default=DEFAULT_MAX_PIXELS, metadata=param(
        "Frames with more pixels than this are rejected before decoding (memory guard); the default is a "
        "3840x2160 camera.",
        when="live", value_range=(1, 1 << 28)))
    warmup_runs: int = field(default=3, metadata=param(
        "Inferences run at configure so the first real frame is not slow.", when="configure", value_range=(0, 100)))
    warmup_budget_s: float = field(default=2.0, metadata=param(
        "Warm-up stops after this many seconds even if warmup_runs are not done (bounds how long configure "
        "and a hot swap spend warming a slow model).", when="configure", value_range=(0.0, 60.0)))
    auto_rollback: bool = field(default=False, metadata=param(
        "After ~/swap_model, roll back by itself when the new model's output rate or mean confidence "
        "collapses within rollback_window_s (docs/lifecycle.md).", when="swap"))
    rollback_window_s: float = field(default=5.0, metadata=param(
        "Seconds after a swap over which auto_rollback judges the new model.", when="swap", value_range=(0.5, 60.0)))
    min_output_rate_ratio: float = field(default=0.5, metadata=param(
        "auto_rollback: roll back when the new model's outputs per frame in fall below this fraction of the "
        "old model's; 0 disables the rate check.", when="swap", value_range=(0.0, 1.0)))
    min_mean_confidence: float = field(default=0.0, metadata=param(
        "auto_rollback: roll back when the new model's mean per-frame top score is below this; "
        "0 disables the confidence check.", when="swap", value_range=(0.0, 1.0)))
    swap_output_wait_s: float = field(default=1.0, metadata=param(
        "How long a ~/swap_model answer waits for the new model's first output (to measure the output gap).",
        when="swap", value_range=(0.0, 10.0)))

    cameras: tuple[str, ...] = field(default=(), metadata=param(
        "Camera names served by this one node (docs/inference_node.md, Many cameras): each NAME subscribes NAME/image_raw and "
        "NAME/image_raw/compressed and publishes NAME/detections (or the task's other outputs); frames of all "
        "cameras run in batches through one engine. Empty: the single-camera node (image, image/compressed).",
        when="configure", items="string", yaml_example="[front, left, right, rear]"))
    camera_priorities: tuple[int, ...] = field(default=(), metadata=param(
        "One priority per camera, in the order of cameras (higher is kept under overload: a batch takes "
        "higher priorities first and sheds lower ones that do not fit); empty: all equal.",
        when="configure", items="integer", yaml_example="[2, 1, 1, 1]"))
    max_batch: int = field(default=0, metadata=param(
        "Frames per engine call with cameras; 0: the number of cameras. Capped by the batch the engine "
        "accepts (1 for a model exported with a fixed batch of 1).", when="configure", value_range=(0, 64)))
    batch_timeout_ms: float = field(default=10.0, metadata=param(
        "With cameras: a batch goes to the engine when max_batch frames wait, or this long after the first "
        "waiting frame arrived, whichever comes first.", when="configure", value_range=(0.0, 1000.0)))
    max_age_ms: float = field(default=200.0, metadata=param(
        "With cameras: a frame received longer ago than this is dropped (too_old), never run.",
        when="configure", value_range=(1.0, 60000.0)))

    def __post_init__(self) -> None:
        for item in dataclasses.fields(self):
            spec, value = spec_of(item), getattr(self, item.name)
            if spec.items:
                object.__setattr__(self, item.name, _as_array(item.name, value, spec.items))
            if spec.choices:
                _check_choice(item.name, value, spec.choices)
            if spec.value_range is not None:
                _check_range(item.name, value, spec.value_range)


def spec_of(item: dataclasses.Field[Any]) -> ParamSpec:
    spec = item.metadata.get("param")
    if not isinstance(spec, ParamSpec):
        raise ConfigError(item.name, "has no parameter definition", fix="declare it with field(metadata=param(...))")
    return spec


def parameters() -> tuple[tuple[str, Any, ParamSpec], ...]:
    """(name, default, definition) of every node parameter, in declaration order."""
    return tuple((item.name, item.default, spec_of(item)) for item in dataclasses.fields(NodeSettings))


DECODER_PARAMS = ("score_threshold", "iou_threshold", "max_detections", "top_k")
