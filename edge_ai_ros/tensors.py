"""Name, shape and dtype of a model's tensors: what manifests record and engines report.

Its own module at the bottom of the package so that manifest.py (which records tensor specs)
and engines/ (which load what a manifest describes) do not import each other; engines.base
re-exports it as part of the engine protocol.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


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
