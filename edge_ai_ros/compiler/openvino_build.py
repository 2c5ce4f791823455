"""OpenVINO build step: an IR (xml + bin) saved with ``openvino.save_model``.

OpenVINO's default inference precision on CPUs with AMX/AVX512-BF16 is bf16, so "FP32 in
OpenVINO" is only FP32 when the hint says so: every artifact records the hint it was
validated with (``build.flags.inference_precision_hint``) and the engine must use it.
The hint is the one the serving engine derives from the manifest's precision
(``EngineOptions.precision_hint_for``: int8 and fp32 run their float ops in f32).
INT8 comes from the calibrated u8/s8 QDQ model (OpenVINO refuses s8 activations on CPU);
FP16 needs a CPU that reports the FP16 capability, bf16 one that reports BF16.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from edge_ai_ros.compiler.backend_builders import BuiltArtifact
from edge_ai_ros.engines.base import Engine, TensorSpec
from edge_ai_ros.engines.options import EngineOptions
from edge_ai_ros.errors import BackendUnavailableError, CompileError, ConfigError, EngineError

PRECISIONS = ("fp32", "fp16", "bf16", "int8")
CAPABILITY = {"fp16": "FP16", "bf16": "BF16", "int8": "INT8"}


class OpenVinoBuilder:
    name = "openvino"
    qdq_flavour = "cpu_u8s8"

    def __init__(self) -> None:
        try:
            import openvino
        except ImportError as err:
            raise BackendUnavailableError("openvino is not installed", fix="pip install openvino") from err
        self._ov = openvino
        self._core = openvino.Core()

    def version(self) -> str:
        return str(self._ov.get_version())

    def device(self) -> str:
        from edge_ai_ros.host import cpu_device_string

        return cpu_device_string()

    def flags(self, precision: str) -> dict[str, Any]:
        return {"device_name": "CPU", "inference_precision_hint": EngineOptions().precision_hint_for(precision),
                "compress_to_fp16": precision == "fp16"}

    def shape_profiles(self, inputs: Sequence[TensorSpec]) -> dict[str, Any]:
        return {}  # runs the ONNX's own (possibly dynamic) shapes

    def check_precision(self, precision: str) -> None:
        if precision not in PRECISIONS:
            raise ConfigError("precision", f"openvino builds {PRECISIONS}, not {precision}", fix="pick one")
        capabilities = list(self._core.get_property("CPU", "OPTIMIZATION_CAPABILITIES"))
        needed = CAPABILITY.get(precision)
        if needed and needed not in capabilities:
            raise ConfigError("precision", f"this CPU cannot run {precision} in OpenVINO (it reports {capabilities})",
                              fix="use --precision bf16 or fp32 here, or build on the target machine")

    def build(self, onnx_path: Path, out_dir: Path, precision: str, stem: str) -> BuiltArtifact:
        name = f"{stem}.xml"
        try:
            model = self._core.read_model(str(onnx_path))
            self._ov.save_model(model, str(out_dir / name), compress_to_fp16=precision == "fp16")
        except Exception as err:  # noqa: BLE001 - OpenVINO raises untyped RuntimeErrors per frontend
            raise CompileError(f"openvino cannot convert {onnx_path.name}: {err}",
                               fix="replace operators the ONNX frontend does not support, or use another backend") from err
        try:
            self.open(out_dir / name, precision)  # proves the CPU plugin compiles it
        except EngineError as err:
            raise CompileError(f"openvino cannot compile {name} for CPU: {err}",
                               fix="check the precision is supported here, or use another backend") from err
        return BuiltArtifact(name=name, format="openvino_ir", details={"weights": f"{stem}.bin"})

    def open(self, artifact: Path, precision: str) -> Engine:
        from edge_ai_ros.engines.registry import create_engine

        return create_engine(self.name, artifact, EngineOptions(), precision=precision, reason="accuracy gate")


def make_builder(tensorrt: object = None) -> OpenVinoBuilder:
    """Build-step factory; the TensorRT options do not apply to this backend."""
    return OpenVinoBuilder()
