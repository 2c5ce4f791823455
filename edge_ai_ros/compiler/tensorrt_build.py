"""TensorRT build step (TensorRT 10/11 Python API): ONNX -> serialized engine plan.

What to do is decided in ``engines.tensorrt_policy`` (pure, tested without TensorRT); this
module carries it out:

- precision: TensorRT 10 builds FP16 with the FP16 builder flag; TensorRT 11 (strongly typed
  only) builds it from an FP16 copy of the ONNX. INT8 is the s8/s8 QDQ model in a strongly typed
  network; asymmetric (u8) QAT models are refused before parsing. fp32 clears TF32 unless allowed.
- one optimization profile: fixed dimensions as they are, dynamic ones from the options.
- the ONNX parser's errors are reported per node (index, name, operator, description).
- the timing cache is loaded before and saved after each build, so later builds reuse tactics.
- hardware-compatible (Ampere+) and version-compatible engines; the cache key then names the
  GPU family and the TensorRT major version, not this GPU and release. DLA only where it works.
``tensorrt`` is imported only when a TensorRtBuilder is made, after the GPU probe passed.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edge_ai_ros.atomic_io import atomic_write_bytes, file_lock
from edge_ai_ros.compiler.backend_builders import BuiltArtifact
from edge_ai_ros.compiler.tensorrt_options import TensorRtOptions
from edge_ai_ros.compiler.tensorrt_prepare import check_symmetric_int8, write_fp16_onnx
from edge_ai_ros.engines import cuda_memory
from edge_ai_ros.engines.base import Engine, TensorSpec
from edge_ai_ros.engines.tensorrt_policy import (
    PrecisionPlan,
    Shape,
    check_dla,
    check_hardware_compatible,
    key_device,
    key_version,
    major_version,
    precision_plan,
    profile_shapes,
)
from edge_ai_ros.engines.tensorrt_runtime import import_tensorrt, require_tensorrt, trt_logger
from edge_ai_ros.errors import CompileError

if TYPE_CHECKING:
    import tensorrt as trt

PRECISIONS = ("fp32", "fp16", "int8")


class TensorRtBuilder:
    name = "tensorrt"
    qdq_flavour = "tensorrt_s8s8"

    def __init__(self, options: TensorRtOptions) -> None:
        require_tensorrt()  # TensorRT, cuda-python and a GPU, else BackendUnavailableError (auto falls back)
        self._version = str(import_tensorrt().__version__)
        self._options = options

    def version(self) -> str:
        return key_version(self._version, version_compatible=self._options.version_compatible)

    def device(self) -> str:
        return key_device(cuda_memory.cuda_device_string(), hardware_compatible=self._options.hardware_compatible)

    def plan(self, precision: str) -> PrecisionPlan:
        return precision_plan(precision, major_version(self._version), allow_tf32=self._options.allow_tf32)

    def flags(self, precision: str) -> dict[str, Any]:
        return {**self.plan(precision).key_facts(), **self._options.key_facts()}

    def profiles(self, inputs: Sequence[TensorSpec]) -> dict[str, tuple[Shape, Shape, Shape]]:
        return {spec.name: profile_shapes(spec.name, spec.shape, self._options.ranges()) for spec in inputs}

    def shape_profiles(self, inputs: Sequence[TensorSpec]) -> dict[str, Any]:
        return {name: [list(s) for s in shapes] for name, shapes in self.profiles(inputs).items()}

    def check_precision(self, precision: str) -> None:
        self.plan(precision)

    def build(self, onnx_path: Path, out_dir: Path, precision: str, stem: str) -> BuiltArtifact:
        import tensorrt as trt

        plan = self.plan(precision)
        check_hardware_compatible(self._options.hardware_compatible, integrated_gpu=cuda_memory.is_integrated())
        model_path = self._prepared(onnx_path, out_dir, precision, plan)
        builder = trt.Builder(trt_logger())
        flags = sum(1 << int(getattr(trt.NetworkDefinitionCreationFlag, name)) for name in plan.network_flags)
        network = builder.create_network(flags)
        parser = trt.OnnxParser(network, trt_logger())
        self._parse(parser, model_path)
        config = self._config(builder, network, precision, plan)
        cache_path = self._timing_cache_path(out_dir)
        with file_lock(cache_path.with_suffix(".lock")):
            self._load_timing_cache(config, cache_path)
            serialized = builder.build_serialized_network(network, config)
            if serialized is None:
                raise CompileError(f"TensorRT could not build {onnx_path.name} ({precision})",
                                   fix="read the TensorRT log above (unsupported layer, profile or GPU memory)")
            atomic_write_bytes(cache_path, memoryview(config.get_timing_cache().serialize()))
        name = f"{stem}.plan"
        atomic_write_bytes(out_dir / name, memoryview(serialized))
        return BuiltArtifact(name=name, format="tensorrt_plan", details={"timing_cache": str(cache_path)})

    def open(self, artifact: Path, precision: str) -> Engine:
        from edge_ai_ros.engines.tensorrt_backend import TensorRtEngine

        return TensorRtEngine(artifact, precision=precision, allow_host_code=self._options.version_compatible)

    def _prepared(self, onnx_path: Path, out_dir: Path, precision: str, plan: PrecisionPlan) -> Path:
        if precision == "int8":
            check_symmetric_int8(onnx_path)
        if plan.fp16_onnx:
            return write_fp16_onnx(onnx_path, out_dir / "work" / f"{onnx_path.stem}.fp16.onnx")
        return onnx_path

    def _parse(self, parser: trt.OnnxParser, onnx_path: Path) -> None:
        if parser.parse(onnx_path.read_bytes(), str(onnx_path)):
            return
        errors = []
        for i in range(parser.num_errors):
            err = parser.get_error(i)
            errors.append(f"node {err.node()} {err.node_name()!r} ({err.node_operator()}): {err.desc()}")
        raise CompileError(f"TensorRT's ONNX parser rejected {onnx_path.name}: " + "; ".join(errors),
                           fix="replace the named operators or use --backend onnxruntime/openvino")

    def _config(self, builder: trt.Builder, network: trt.INetworkDefinition, precision: str,
                plan: PrecisionPlan) -> trt.IBuilderConfig:
        import tensorrt as trt

        config = builder.create_builder_config()
        config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, self._options.workspace_mib << 20)
        for flag in plan.set_flags:  # names from the policy: the version-specific members exist there
            config.set_flag(getattr(trt.BuilderFlag, flag))
        for flag in plan.clear_flags:
            config.clear_flag(getattr(trt.BuilderFlag, flag))
        if self._options.hardware_compatible:
            config.hardware_compatibility_level = trt.HardwareCompatibilityLevel.AMPERE_PLUS
        if self._options.version_compatible:
            config.set_flag(trt.BuilderFlag.VERSION_COMPATIBLE)
        profiles = self._network_profiles(network)
        self._place(builder, config, precision, profiles)
        profile = builder.create_optimization_profile()
        for name, (low, opt, high) in profiles.items():
            profile.set_shape(name, trt.Dims(list(low)), trt.Dims(list(opt)), trt.Dims(list(high)))
        config.add_optimization_profile(profile)
        return config

    def _network_profiles(self, network: trt.INetworkDefinition) -> dict[str, tuple[Shape, Shape, Shape]]:
        specs = []
        for i in range(network.num_inputs):
            tensor = network.get_input(i)
            dims = tensor.shape
            shape = tuple(dims[k] if dims[k] >= 0 else "dyn" for k in range(len(dims)))
            specs.append(TensorSpec(name=tensor.name, shape=shape, dtype="float32"))
        return self.profiles(specs)

    def _place(self, builder: trt.Builder, config: trt.IBuilderConfig, precision: str,
               profiles: dict[str, tuple[Shape, Shape, Shape]]) -> None:
        """GPU, or the DLA core asked for (with GPU fallback) once the policy accepts it."""
        import tensorrt as trt

        core = self._options.dla_core
        check_dla(core, precision=precision, version=self._version, profiles=profiles,
                  cores_present=builder.num_DLA_cores if core >= 0 else 0)
        if core >= 0:
            config.default_device_type = trt.DeviceType.DLA
            config.DLA_core = core
            config.set_flag(trt.BuilderFlag.GPU_FALLBACK)

    def _timing_cache_path(self, out_dir: Path) -> Path:
        if self._options.timing_cache:
            return Path(self._options.timing_cache)
        return out_dir.parent.parent / "tensorrt.timing.cache"  # staging/<id>/ -> cache root

    @staticmethod
    def _load_timing_cache(config: trt.IBuilderConfig, path: Path) -> None:
        data = path.read_bytes() if path.is_file() else b""
        cache = config.create_timing_cache(data)
        if not config.set_timing_cache(cache, ignore_mismatch=False):
            config.set_timing_cache(config.create_timing_cache(b""), ignore_mismatch=False)


def make_builder(options: TensorRtOptions | None = None) -> TensorRtBuilder:
    return TensorRtBuilder(options or TensorRtOptions())
