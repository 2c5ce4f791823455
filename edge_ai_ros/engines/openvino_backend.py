"""OpenVINO on the CPU: the fastest CPU backend measured here (docs/engines.md).

The model is read first and compiled from memory (compile_model straight from an ONNX
path once failed here where read_model then compile worked). The precision hint is always
set: OpenVINO's default on BF16/AMX-capable CPUs is bf16, so without it an "FP32" engine
is not FP32. openvino is imported when an engine is created, never at module import.
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

NAME = "openvino"
_PRECISION_NAMES = {"f32": "fp32", "bf16": "bf16", "f16": "fp16"}


def _import_runtime() -> Any:
    try:
        import openvino
    except ImportError as err:
        raise BackendUnavailableError(
            f"openvino is not importable: {err}", fix="pip install openvino, or choose another backend",
        ) from err
    return openvino


def _spec(port: Any, name: str) -> TensorSpec:
    dims = tuple(d.get_length() if d.is_static else "?" for d in port.get_partial_shape())
    return TensorSpec(name=name, shape=dims, dtype=port.get_element_type().to_dtype().name)


def _onnx_names(ports: Any) -> list[str]:
    """Tensor names as the source model spells them.

    Read before compiling: compilation fuses nodes and a port then carries several names,
    of which get_any_name() may return an internal one (e.g. "flat" for output "logits").
    """
    return [port.get_any_name() for port in ports]


def _type_name(value: Any) -> str:
    """"f32" for an ov.Type or a plain string property value."""
    return str(value.to_string()) if hasattr(value, "to_string") else str(value)


def _compile(ov: Any, path: str | Path, options: EngineOptions, hint: str) -> tuple[Any, Any]:
    """(the model as read, the compiled model)."""
    config = {
        "INFERENCE_PRECISION_HINT": hint,
        "PERFORMANCE_HINT": "LATENCY",
        "NUM_STREAMS": "1",
        "INFERENCE_NUM_THREADS": str(options.resolved_threads()),
    }
    try:
        core = ov.Core()
        model = core.read_model(str(path))  # .onnx, or .xml with its .bin beside it
        return model, core.compile_model(model, "CPU", config)
    except Exception as err:  # OpenVINO raises RuntimeError and its own types, all from Exception
        raise EngineError(f"openvino could not load {path}: {err}",
                          fix="check the model file, or use backend onnxruntime") from err


class OpenVinoEngine:
    """One compiled model and one infer request (LATENCY hint, one stream)."""

    def __init__(
        self, path: str | Path, options: EngineOptions, *, model_precision: str = "fp32",
        details: Mapping[str, str] | None = None,
    ) -> None:
        ov = _import_runtime()
        hint = options.precision_hint_for(model_precision)
        model, self._compiled = _compile(ov, path, options, hint)
        self._request: Any = self._compiled.create_infer_request()
        used = _type_name(self._compiled.get_property("INFERENCE_PRECISION_HINT"))
        inputs = tuple(map(_spec, self._compiled.inputs, _onnx_names(model.inputs)))
        outputs = tuple(map(_spec, self._compiled.outputs, _onnx_names(model.outputs)))
        self._output_names = [o.name for o in outputs]
        self._info = EngineInfo(
            backend=NAME, backend_version=str(ov.__version__), device=cpu_device_string(),
            precision="int8" if model_precision == "int8" else _PRECISION_NAMES.get(used, used),
            inputs=inputs, outputs=outputs,
            details={"threads": str(options.resolved_threads()), "inference_precision": used,
                     "performance_hint": "LATENCY", "path": str(path), **(details or {})},
        )

    @property
    def info(self) -> EngineInfo:
        return self._info

    def infer(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        if self._request is None:
            raise EngineError("the openvino engine is closed", fix="load the engine again")
        check_feeds(feeds, self._info.inputs)
        try:
            # inputs are read in place (infer blocks until done); outputs come back as fresh copies
            results = self._request.infer(dict(feeds), share_inputs=True, share_outputs=False)
        except Exception as err:  # OpenVINO raises RuntimeError and its own types, all from Exception
            raise EngineError(f"openvino inference failed: {err}", fix="check the input tensors") from err
        return {name: np.asarray(results[i]) for i, name in enumerate(self._output_names)}

    def close(self) -> None:
        self._request = None
        self._compiled = None


def create_engine(
    path: str | Path, options: EngineOptions, *, model_precision: str = "fp32",
    details: Mapping[str, str] | None = None,
) -> OpenVinoEngine:
    """The registry's entry point (every backend module has one with this signature)."""
    return OpenVinoEngine(path, options, model_precision=model_precision, details=details)
