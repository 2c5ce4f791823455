"""The build-step interface each backend implements, and how ``--backend auto`` chooses.

One small protocol, one module per backend (``onnxruntime_build``, ``openvino_build``,
``tensorrt_build``), each importing its runtime only when used. The orchestration in
``build.py`` knows nothing backend-specific beyond this.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from edge_ai_ros.engines.base import Engine, TensorSpec
from edge_ai_ros.errors import BackendUnavailableError, ConfigError

if TYPE_CHECKING:
    from edge_ai_ros.compiler.tensorrt_options import TensorRtOptions

InferFn = Callable[[Mapping[str, np.ndarray]], dict[str, np.ndarray]]

BUILDER_MODULES: dict[str, str] = {
    "tensorrt": "edge_ai_ros.compiler.tensorrt_build",
    "openvino": "edge_ai_ros.compiler.openvino_build",
    "onnxruntime": "edge_ai_ros.compiler.onnxruntime_build",
}
#: ``--backend auto``: TensorRT where usable; on CPUs every CPU builder is built and timed
#: (compiler/auto_build.py); this order is then only the order they are built and listed in.
AUTO_ORDER = ("tensorrt", "openvino", "onnxruntime")


@dataclass(frozen=True, kw_only=True)
class BuiltArtifact:
    """What a backend's build step left in the staging folder."""

    name: str  # file name of the artifact inside the staging folder
    format: str  # manifest ARTIFACT_FORMATS
    details: Mapping[str, Any] = field(default_factory=dict)


class BackendBuilder(Protocol):
    """Turns an (FP32 or QDQ) ONNX model into this backend's engine artifact."""

    name: str
    qdq_flavour: str  # which INT8 flavour it wants from quantize_qdq

    def version(self) -> str: ...

    def device(self) -> str: ...

    def flags(self, precision: str) -> dict[str, Any]:
        """Builder settings that change the engine; part of the cache key and the manifest."""
        ...

    def shape_profiles(self, inputs: Sequence[TensorSpec]) -> dict[str, Any]:
        """Shape ranges the engine is built for beyond the ONNX's own shapes (TensorRT profiles)."""
        ...

    def check_precision(self, precision: str) -> None:
        """Raise ConfigError naming the precision and the alternative if this backend cannot build it."""
        ...

    def build(self, onnx_path: Path, out_dir: Path, precision: str, stem: str) -> BuiltArtifact:
        """Write ``<stem>.<ext>`` (and companions) into ``out_dir``."""
        ...

    def open(self, artifact: Path, precision: str) -> Engine:
        """Load a built artifact exactly as configured, for the accuracy gate (the caller closes it)."""
        ...


def get_builder(name: str, tensorrt: TensorRtOptions | None = None) -> BackendBuilder:
    if name not in BUILDER_MODULES:
        raise ConfigError("backend", f"{name!r} is not one of {(*BUILDER_MODULES, 'auto')}", fix="pick one of them")
    module = importlib.import_module(BUILDER_MODULES[name])
    builder: BackendBuilder = module.make_builder(tensorrt)
    return builder


def choose_builder(name: str, precision: str, tensorrt: TensorRtOptions | None = None) -> BackendBuilder:
    """The named builder, or for ``auto`` the first available one that builds ``precision``."""
    if name != "auto":
        builder = get_builder(name, tensorrt)
        builder.check_precision(precision)
        return builder
    reasons = []
    for candidate in AUTO_ORDER:
        try:
            builder = get_builder(candidate, tensorrt)
            builder.check_precision(precision)
            return builder
        except (BackendUnavailableError, ConfigError) as err:
            reasons.append(f"{candidate}: {err}")
    raise ConfigError("backend", f"no available backend builds {precision}: " + "; ".join(reasons),
                      fix="install a runtime that supports it or choose another --precision")
