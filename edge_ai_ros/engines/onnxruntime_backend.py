"""ONNX Runtime on the CPU execution provider: the portable fallback backend.

onnxruntime is imported when an engine is created, never at module import.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from edge_ai_ros.engines.base import EngineInfo, TensorSpec
from edge_ai_ros.engines.feeds import check_feeds
from edge_ai_ros.engines.options import EngineOptions
from edge_ai_ros.errors import BackendUnavailableError, EngineError
from edge_ai_ros.host import cpu_device_string

NAME = "onnxruntime"
_ORT_TYPES = {
    "tensor(float)": "float32", "tensor(float16)": "float16", "tensor(double)": "float64",
    "tensor(int64)": "int64", "tensor(int32)": "int32", "tensor(int8)": "int8",
    "tensor(uint8)": "uint8", "tensor(bool)": "bool", "tensor(bfloat16)": "bfloat16",
}


def _import_runtime() -> Any:
    try:
        import onnxruntime
    except ImportError as err:
        raise BackendUnavailableError(
            f"onnxruntime is not importable: {err}", fix="pip install onnxruntime, or choose another backend",
        ) from err
    return onnxruntime


def _spec(arg: Any) -> TensorSpec:
    shape = tuple(d if isinstance(d, int) else str(d or "?") for d in arg.shape)
    return TensorSpec(name=arg.name, shape=shape, dtype=_ORT_TYPES.get(arg.type, arg.type))


class OnnxRuntimeEngine:
    """One InferenceSession; all graph optimisations on; intra-op threads from the options."""

    def __init__(
        self, path: str | Path, options: EngineOptions, *, model_precision: str = "fp32",
        details: Mapping[str, str] | None = None,
    ) -> None:
        ort = _import_runtime()
        session_options = ort.SessionOptions()
        session_options.intra_op_num_threads = options.resolved_threads()
        session_options.inter_op_num_threads = 1
        session_options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        session_options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        session_options.add_session_config_entry("session.intra_op.allow_spinning", "1" if options.spin_wait else "0")
        try:
            self._session: Any = ort.InferenceSession(
                str(path), sess_options=session_options, providers=["CPUExecutionProvider"])
        except Exception as err:  # the runtime's own exception types all derive from Exception
            raise EngineError(f"onnxruntime could not load {path}: {err}",
                              fix="check that the file is a valid ONNX model for this runtime") from err
        inputs = tuple(_spec(a) for a in self._session.get_inputs())
        outputs = tuple(_spec(a) for a in self._session.get_outputs())
        self._output_names = [o.name for o in outputs]
        self._info = EngineInfo(
            backend=NAME, backend_version=str(ort.__version__), device=cpu_device_string(),
            precision=model_precision, inputs=inputs, outputs=outputs,
            details={"threads": str(options.resolved_threads()), "provider": "CPUExecutionProvider",
                     "spin_wait": str(options.spin_wait),
                     "path": str(path), **(details or {})},
        )

    @property
    def info(self) -> EngineInfo:
        return self._info

    def infer(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        if self._session is None:
            raise EngineError("the onnxruntime engine is closed", fix="load the engine again")
        check_feeds(feeds, self._info.inputs)
        try:
            results = self._session.run(self._output_names, dict(feeds))
        except Exception as err:  # the runtime's own exception types all derive from Exception
            raise EngineError(f"onnxruntime inference failed: {err}", fix="check the input tensors") from err
        return dict(zip(self._output_names, results, strict=True))

    def close(self) -> None:
        self._session = None


def create_engine(
    path: str | Path, options: EngineOptions, *, model_precision: str = "fp32",
    details: Mapping[str, str] | None = None,
) -> OnnxRuntimeEngine:
    """The registry's entry point (every backend module has one with this signature)."""
    return OnnxRuntimeEngine(path, options, model_precision=model_precision, details=details)
