"""The one engine protocol every backend implements.

Shaped after Polygraphy's runners: activate (load), describe, infer(dict of arrays) ->
dict of arrays, close. Host numpy arrays cross the boundary; a GPU backend (TensorRT)
keeps its device buffers and CUDA stream inside the engine and copies at the edges, so
callers never see device memory.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np

from edge_ai_ros.tensors import TensorSpec

__all__ = ["Engine", "EngineInfo", "TensorSpec"]


@dataclass(frozen=True, kw_only=True)
class EngineInfo:
    """What an engine says about itself: enough to fill a manifest or a diagnostics line."""

    backend: str  # "onnxruntime", "openvino", "tensorrt", "torch"
    backend_version: str
    device: str  # e.g. "cpu:avx512_vnni,amx" or "cuda:NVIDIA H100 (sm_90)"
    precision: str  # "fp32", "fp16", "bf16", "int8"
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    details: Mapping[str, str] = field(default_factory=dict)


@runtime_checkable
class Engine(Protocol):
    """A loaded model that maps named input arrays to named output arrays."""

    @property
    def info(self) -> EngineInfo: ...

    def infer(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Run one batch. Raises EngineError (never a backend exception) on failure."""
        ...

    def close(self) -> None:
        """Release the runtime's resources. Idempotent."""
        ...
