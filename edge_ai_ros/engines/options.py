"""How to load an engine: the knobs shared by every backend, validated when built."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from edge_ai_ros.errors import ConfigError
from edge_ai_ros.host import available_cores

PRECISION_HINTS = ("", "f32", "bf16", "f16")
AUTO_SELECT = ("measure", "table")
AUTO_SELECT_ENV = "EDGE_AI_ROS_AUTO_SELECT"  # the default of EngineOptions.auto_select (nodes, CLI)
DEVICES = ("cpu", "gpu", "cuda")


@dataclass(frozen=True, kw_only=True)
class EngineOptions:
    """Backend settings.

    threads: intra-op threads; 0 = every core this process may use.
    precision_hint: OpenVINO's INFERENCE_PRECISION_HINT; "" follows the manifest's precision
        (fp32 and int8 -> "f32", so FP32 really is FP32; bf16 -> "bf16"; fp16 -> "f16").
    device: "cpu" for ONNX Runtime / OpenVINO; "cuda"/"gpu" for TensorRT.
    device_index: which GPU, for backends that have several.
    spin_wait: let ONNX Runtime's idle worker threads spin between runs. Off by default: on
        this 2-core machine spinning workers took the cores from preprocessing and from the
        next inference (preprocess 6.3 -> 2.3 ms, inference 8.7 -> 4.8 ms with it off; docs/engines.md).
    auto_select: how backend "auto" picks among backends that can run an artifact: "measure" times
        them on this host once (engines/auto_select.py, result cached), "table" takes the fixed
        fallback order (registry.CPU_PREFERENCE) without measuring. Default: $EDGE_AI_ROS_AUTO_SELECT
        or "measure".
    auto_budget_s: seconds the timing part of a measurement may take (loading comes on top).
    choice_cache_dir: where measured choices are kept; "" = $EDGE_AI_ROS_CACHE_DIR or ~/.cache/edge_ai_ros.
    """

    threads: int = 0
    precision_hint: str = ""
    device: str = "cpu"
    device_index: int = 0
    spin_wait: bool = False
    auto_select: str = field(default_factory=lambda: os.environ.get(AUTO_SELECT_ENV, "measure"))
    auto_budget_s: float = 1.5
    choice_cache_dir: str = ""

    def __post_init__(self) -> None:
        if self.threads < 0:
            raise ConfigError("threads", f"is {self.threads}", fix="use 0 (all cores) or a positive count")
        if self.precision_hint not in PRECISION_HINTS:
            raise ConfigError("precision_hint", f"{self.precision_hint!r} is not one of {PRECISION_HINTS}",
                              fix="use 'f32' for exact FP32, 'bf16' to allow bfloat16, or '' to follow the manifest")
        if self.device not in DEVICES:
            raise ConfigError("device", f"{self.device!r} is not one of {DEVICES}", fix="use 'cpu' here")
        if self.auto_select not in AUTO_SELECT:
            raise ConfigError("auto_select", f"{self.auto_select!r} is not one of {AUTO_SELECT}",
                              fix="use 'measure' (time the backends here) or 'table' (fixed order)")
        if not 0.0 < self.auto_budget_s <= 60.0:
            raise ConfigError("auto_budget_s", f"is {self.auto_budget_s}", fix="use a few seconds, e.g. 1.5")
        if self.device_index < 0:
            raise ConfigError("device_index", f"is {self.device_index}", fix="use 0 or a positive GPU index")

    def resolved_threads(self) -> int:
        return self.threads or available_cores()

    def precision_hint_for(self, model_precision: str) -> str:
        """The OpenVINO precision hint to use for a model built at ``model_precision``."""
        if self.precision_hint:
            return self.precision_hint
        return {"bf16": "bf16", "fp16": "f16"}.get(model_precision, "f32")
