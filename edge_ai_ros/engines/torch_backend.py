"""PyTorch eager reference path: the outputs every compiled engine is checked against.

Not a serving backend (the serving path never imports torch): it wraps an nn.Module
built by the caller's factory, with weights from safetensors (never pickle), behind
the same Engine protocol so comparisons are engine-to-engine.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from edge_ai_ros.engines.base import EngineInfo, TensorSpec
from edge_ai_ros.errors import BackendUnavailableError, EngineError
from edge_ai_ros.host import available_cores, cpu_device_string

NAME = "torch"


def _import_torch() -> Any:
    try:
        import torch
    except ImportError as err:
        raise BackendUnavailableError(f"torch is not importable: {err}", fix="pip install torch==2.13.0") from err
    return torch


def load_module(factory: Callable[[], Any], weights: str | Path) -> Any:
    """Build a module with ``factory`` and load safetensors weights strictly; eval mode."""
    from safetensors.torch import load_file

    module = factory()
    try:
        module.load_state_dict(load_file(str(weights)), strict=True)
    except (OSError, RuntimeError, ValueError) as err:
        raise EngineError(f"cannot load weights {weights}: {err}",
                          fix="use the safetensors file written for this model") from err
    return module.eval()


class TorchEngine:
    """Runs ``module(*inputs)`` in inference mode; outputs (a tensor or tuple) are named in order."""

    def __init__(
        self, module: Any, input_names: Sequence[str], output_names: Sequence[str], *,
        input_specs: Sequence[TensorSpec] = (), threads: int = 0,
    ) -> None:
        self._torch = _import_torch()
        self._torch.set_num_threads(threads or available_cores())
        self._module = module.eval()
        self._input_names = tuple(input_names)
        self._output_names = tuple(output_names)
        dtype = next((str(p.dtype).removeprefix("torch.") for p in module.parameters()), "float32")
        self._info = EngineInfo(
            backend=NAME, backend_version=str(self._torch.__version__), device=cpu_device_string(),
            precision={"float32": "fp32", "float16": "fp16", "bfloat16": "bf16"}.get(dtype, dtype),
            inputs=tuple(input_specs) or tuple(TensorSpec(name=n, shape=(), dtype="float32") for n in input_names),
            outputs=tuple(TensorSpec(name=n, shape=(), dtype="float32") for n in output_names),
            details={"mode": "eager"},
        )

    @property
    def info(self) -> EngineInfo:
        return self._info

    def infer(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        if self._module is None:
            raise EngineError("the torch engine is closed", fix="create it again")
        missing = [n for n in self._input_names if n not in feeds]
        if missing:
            raise EngineError(f"inputs {missing} are missing", fix=f"pass {list(self._input_names)}")
        args = [self._torch.from_numpy(np.ascontiguousarray(feeds[n])) for n in self._input_names]
        try:
            with self._torch.inference_mode():
                out = self._module(*args)
        except (RuntimeError, ValueError, TypeError) as err:
            raise EngineError(f"torch inference failed: {err}", fix="check the input tensors") from err
        outputs = (out,) if isinstance(out, self._torch.Tensor) else tuple(out)
        if len(outputs) != len(self._output_names):
            raise EngineError(f"module returned {len(outputs)} outputs, expected {len(self._output_names)}",
                              fix="pass one output name per returned tensor")
        return {n: t.detach().cpu().numpy() for n, t in zip(self._output_names, outputs, strict=True)}

    def close(self) -> None:
        self._module = None
