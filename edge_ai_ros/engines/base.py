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


@dataclass(frozen=True, kw_only=True)
class TensorSpec:
    """Name, shape and dtype of one engine input or output.

    A dimension is an int, or a string (e.g. "batch") for a dynamic one.
    """

    name: str
    shape: tuple[int | str, ...]
    dtype: str  # numpy dtype name: "float32", "float16", "int64", "uint8", ...

    def to_dict(self) -> dict[str, object]:
        return {"name": self.name, "shape": list(self.shape), "dtype": self.dtype}

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> TensorSpec:
        shape = data.get("shape", [])
        if not isinstance(shape, list | tuple):
            raise ValueError(f"tensor spec shape must be a list, got {shape!r}")
        return cls(
            name=str(data["name"]),
            shape=tuple(d if isinstance(d, str) else int(d) for d in shape),
            dtype=str(data["dtype"]),
        )

    def is_compatible(self, other: TensorSpec) -> bool:
        """Same name, dtype and rank; fixed dims must agree where both are fixed."""
        if self.name != other.name or self.dtype != other.dtype:
            return False
        if len(self.shape) != len(other.shape):
            return False
        return all(
            isinstance(a, str) or isinstance(b, str) or a == b
            for a, b in zip(self.shape, other.shape, strict=True)
        )


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
