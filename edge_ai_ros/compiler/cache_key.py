"""The cache key: one hash over everything that changes the bytes of a built engine.

Autoware keys its engine cache on the ONNX file name, so a precision change silently reuses
the old engine. Here every input that can change the engine (model bytes, precision,
calibration method and data, backend and its version, device, shapes, builder flags) goes
into the key, so any change builds anew and identical inputs always hit.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from edge_ai_ros.errors import ConfigError

KEY_SCHEMA = 1


@dataclass(frozen=True, kw_only=True)
class CacheKeyInputs:
    """The facts a cache key is made of; recorded in the manifest so a hit can be explained."""

    onnx_sha256: str
    precision: str
    backend: str
    backend_version: str
    device: str
    calibration: Mapping[str, Any] = field(default_factory=dict)  # method, params, data fingerprint
    shape_profiles: Mapping[str, Any] = field(default_factory=dict)
    flags: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in ("onnx_sha256", "precision", "backend", "backend_version", "device"):
            if not getattr(self, name):
                raise ConfigError(f"cache_key.{name}", "must not be empty", fix="pass the real value")

    def canonical_json(self) -> str:
        """Sorted, whitespace-free JSON: the same facts always give the same text."""
        data = {"schema": KEY_SCHEMA, **asdict(self)}
        return json.dumps(data, sort_keys=True, separators=(",", ":"), default=_json_default)

    def key(self) -> str:
        return hashlib.sha256(self.canonical_json().encode("utf-8")).hexdigest()


def _json_default(value: object) -> object:
    if isinstance(value, tuple | set | frozenset):
        return sorted(value) if isinstance(value, set | frozenset) else list(value)
    if isinstance(value, Mapping):
        return dict(value)
    raise TypeError(f"cache key input of type {type(value).__name__} is not JSON-serialisable")
