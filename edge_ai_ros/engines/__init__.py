"""Engines: one protocol (base.Engine), backends loaded lazily through the registry.

Importing this package imports no runtime (onnxruntime, openvino, tensorrt, torch). The
registry's names are resolved on first use (PEP 562), because the registry reads manifests
and manifest.py imports engines.base: an eager import here would be circular.
"""

from __future__ import annotations

import importlib
from typing import Any

from edge_ai_ros.engines.base import Engine, EngineInfo, TensorSpec
from edge_ai_ros.engines.options import EngineOptions

_REGISTRY_NAMES = ("BackendChoice", "available_backends", "choose_backend", "load_engine")

__all__ = ["Engine", "EngineInfo", "EngineOptions", "TensorSpec", *_REGISTRY_NAMES]


def __getattr__(name: str) -> Any:
    if name in _REGISTRY_NAMES:
        return getattr(importlib.import_module("edge_ai_ros.engines.registry"), name)
    raise AttributeError(f"module 'edge_ai_ros.engines' has no attribute {name!r}")
