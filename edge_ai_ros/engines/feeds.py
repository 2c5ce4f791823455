"""Checks on the arrays handed to Engine.infer, shared by the backends.

A wrong name, rank or dtype is reported as EngineError naming the input and what it
expects, before the runtime sees it and answers with a less helpful message.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from edge_ai_ros.engines.base import TensorSpec
from edge_ai_ros.errors import EngineError


def check_feeds(feeds: Mapping[str, np.ndarray], inputs: tuple[TensorSpec, ...]) -> None:
    """Raise EngineError unless ``feeds`` has every input with a matching dtype and shape."""
    for spec in inputs:
        array = feeds.get(spec.name)
        if array is None:
            raise EngineError(f"input {spec.name!r} is missing; feeds have {sorted(feeds)}",
                              fix=f"pass every input: {[s.name for s in inputs]}")
        fixed_ok = all(isinstance(d, str) or d == a for d, a in zip(spec.shape, array.shape, strict=False))
        if array.dtype.name != spec.dtype or array.ndim != len(spec.shape) or not fixed_ok:
            raise EngineError(
                f"input {spec.name!r} got {array.dtype.name} {list(array.shape)}, "
                f"the model wants {spec.dtype} {list(spec.shape)}",
                fix="preprocess with the model's manifest",
            )
