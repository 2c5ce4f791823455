"""ONNX Runtime build step: an FP32 model with portable graph optimizations, or a u8/s8 QDQ model.

The FP32 artifact is saved after ONNX Runtime's *basic* optimizations (constant folding,
redundant-node removal), which stay plain ONNX; the hardware-specific fusions are applied
again when a session loads it. The INT8 artifact is the calibrated u8/s8 QDQ model, which
ONNX Runtime's VNNI/AMX kernels run directly. FP16 is refused: the CPU provider has no fast
FP16 kernels.
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from edge_ai_ros.compiler.backend_builders import BuiltArtifact
from edge_ai_ros.engines.base import Engine, TensorSpec
from edge_ai_ros.engines.options import EngineOptions
from edge_ai_ros.errors import BackendUnavailableError, CompileError, ConfigError

PRECISIONS = ("fp32", "int8")


class OnnxRuntimeBuilder:
    name = "onnxruntime"
    qdq_flavour = "cpu_u8s8"

    def __init__(self) -> None:
        try:
            import onnxruntime
        except ImportError as err:
            raise BackendUnavailableError("onnxruntime is not installed", fix="pip install onnxruntime") from err
        self._ort = onnxruntime

    def version(self) -> str:
        return str(self._ort.__version__)

    def device(self) -> str:
        from edge_ai_ros.host import cpu_device_string

        return cpu_device_string()

    def flags(self, precision: str) -> dict[str, Any]:
        return {"saved_optimization_level": "basic", "providers": ["CPUExecutionProvider"]}

    def shape_profiles(self, inputs: Sequence[TensorSpec]) -> dict[str, Any]:
        return {}  # runs the ONNX's own (possibly dynamic) shapes

    def check_precision(self, precision: str) -> None:
        if precision not in PRECISIONS:
            raise ConfigError("precision", f"onnxruntime on CPU builds {PRECISIONS}, not {precision}",
                              fix="use --backend openvino (bf16) or tensorrt (fp16)")

    def build(self, onnx_path: Path, out_dir: Path, precision: str, stem: str) -> BuiltArtifact:
        name = f"{stem}.onnx"
        if precision == "int8":
            shutil.copyfile(onnx_path, out_dir / name)  # the QDQ model is the artifact
        else:
            options = self._ort.SessionOptions()
            options.graph_optimization_level = self._ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
            options.optimized_model_filepath = str(out_dir / name)
            self._session(onnx_path, options)
        self._session(out_dir / name, self._ort.SessionOptions())  # proves the artifact loads
        return BuiltArtifact(name=name, format="onnx")

    def open(self, artifact: Path, precision: str) -> Engine:
        from edge_ai_ros.engines.registry import create_engine

        return create_engine(self.name, artifact, EngineOptions(), precision=precision, reason="accuracy gate")

    def _session(self, path: Path, options: Any) -> Any:
        try:
            return self._ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        except Exception as err:  # noqa: BLE001 - ORT raises its own untyped Fail/NotImplemented errors
            raise CompileError(f"onnxruntime cannot load {path.name}: {err}",
                               fix="replace operators the CPU provider does not implement, or use another backend") from err


def make_builder(tensorrt: object = None) -> OnnxRuntimeBuilder:
    """Build-step factory; the TensorRT options do not apply to this backend."""
    return OnnxRuntimeBuilder()
