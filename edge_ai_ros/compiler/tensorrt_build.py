"""TensorRT build step (TensorRT 10/11 Python API): ONNX -> serialized engine plan.

- The ONNX parser's errors are reported per node (index, name, operator, description).
- INT8 is explicit: the s8/s8 QDQ model is parsed into a *strongly typed* network, so the
  Q/DQ nodes fix every precision (the implicit INT8 calibrators are gone in TensorRT 11).
- FP16 sets the FP16 builder flag on a weakly typed network.
- One optimization profile covers dynamic batch (and resolution where the ONNX is dynamic).
- The timing cache is loaded before and saved after each build, so later builds reuse tactics.
- Optional hardware-compatible (Ampere+) and version-compatible engines, and a DLA core with
  GPU fallback.
``tensorrt`` is imported only when a TensorRtBuilder is made.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edge_ai_ros.atomic_io import atomic_write_bytes, file_lock
from edge_ai_ros.compiler.backend_builders import BuiltArtifact, InferFn
from edge_ai_ros.compiler.tensorrt_options import TensorRtOptions
from edge_ai_ros.engines.base import TensorSpec
from edge_ai_ros.errors import BackendUnavailableError, CompileError, ConfigError

if TYPE_CHECKING:
    import tensorrt as trt

PRECISIONS = ("fp32", "fp16", "int8")


def import_tensorrt() -> Any:
    """The real tensorrt module, or BackendUnavailableError (type stubs alone import as a namespace)."""
    try:
        import tensorrt
    except ImportError as err:
        raise BackendUnavailableError("TensorRT is not installed (import tensorrt failed)",
                                      fix="install TensorRT 10+ on an NVIDIA machine") from err
    if not hasattr(tensorrt, "Builder"):
        raise BackendUnavailableError("only TensorRT type stubs are installed, not the runtime",
                                      fix="install TensorRT 10+ on an NVIDIA machine")
    return tensorrt


class TensorRtBuilder:
    name = "tensorrt"
    qdq_flavour = "tensorrt_s8s8"

    def __init__(self, options: TensorRtOptions) -> None:
        self._trt = import_tensorrt()
        self._options = options
        self._logger = self._trt.Logger(self._trt.Logger.WARNING)

    def version(self) -> str:
        return str(self._trt.__version__)

    def device(self) -> str:
        from edge_ai_ros.engines.tensorrt_backend import cuda_device_string

        return cuda_device_string()

    def flags(self, precision: str) -> dict[str, Any]:
        return {"strongly_typed": precision == "int8", "fp16": precision == "fp16", **self._options.key_facts()}

    def shape_profiles(self, inputs: Sequence[TensorSpec]) -> dict[str, Any]:
        return {spec.name: [list(s) for s in self._profile_shapes(spec)] for spec in inputs}

    def check_precision(self, precision: str) -> None:
        if precision not in PRECISIONS:
            raise ConfigError("precision", f"tensorrt builds {PRECISIONS}, not {precision}", fix="pick one")

    def build(self, onnx_path: Path, out_dir: Path, precision: str, stem: str) -> BuiltArtifact:
        trt = self._trt
        builder = trt.Builder(self._logger)
        network = builder.create_network(
            1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED) if precision == "int8" else 0)
        self._parse(trt.OnnxParser(network, self._logger), onnx_path)
        config = self._config(builder, network, precision)
        with file_lock(self._timing_cache_path(out_dir).with_suffix(".lock")):
            self._load_timing_cache(config, out_dir)
            plan = builder.build_serialized_network(network, config)
            if plan is None:
                raise CompileError(f"TensorRT could not build {onnx_path.name} ({precision})",
                                   fix="read the TensorRT log above; raise --workspace or check the profile")
            atomic_write_bytes(self._timing_cache_path(out_dir), memoryview(config.get_timing_cache().serialize()))
        name = f"{stem}.plan"
        atomic_write_bytes(out_dir / name, memoryview(plan))
        return BuiltArtifact(name=name, format="tensorrt_plan", details={"timing_cache": str(self._timing_cache_path(out_dir))})

    def open(self, artifact: Path, precision: str) -> InferFn:
        from edge_ai_ros.engines.tensorrt_backend import TensorRtEngine

        engine = TensorRtEngine(artifact, precision=precision)
        return engine.infer

    def _parse(self, parser: trt.OnnxParser, onnx_path: Path) -> None:
        if parser.parse(onnx_path.read_bytes(), str(onnx_path)):
            return
        errors = []
        for i in range(parser.num_errors):
            err = parser.get_error(i)
            errors.append(f"node {err.node()} {err.node_name()!r} ({err.node_operator()}): {err.desc()}")
        raise CompileError(f"TensorRT's ONNX parser rejected {onnx_path.name}: " + "; ".join(errors),
                           fix="replace the named operators or use --backend onnxruntime/openvino")

    def _config(self, builder: trt.Builder, network: trt.INetworkDefinition, precision: str) -> trt.IBuilderConfig:
        trt, o = self._trt, self._options
        config = builder.create_builder_config()
        config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, o.workspace_mib << 20)
        if precision == "fp16":
            config.set_flag(trt.BuilderFlag.FP16)
        if o.hardware_compatible:
            config.hardware_compatibility_level = trt.HardwareCompatibilityLevel.AMPERE_PLUS
        if o.version_compatible:
            config.set_flag(trt.BuilderFlag.VERSION_COMPATIBLE)
        if o.dla_core >= 0:
            if builder.num_DLA_cores <= o.dla_core:
                raise ConfigError("tensorrt.dla_core", f"core {o.dla_core} requested, {builder.num_DLA_cores} present",
                                  fix="use -1 (GPU) or an existing core")
            config.default_device_type = trt.DeviceType.DLA
            config.DLA_core = o.dla_core
            config.set_flag(trt.BuilderFlag.GPU_FALLBACK)
        profile = builder.create_optimization_profile()
        for i in range(network.num_inputs):
            tensor = network.get_input(i)
            dims = tensor.shape
            spec = TensorSpec(name=tensor.name, shape=tuple(dims[k] if dims[k] >= 0 else "dyn" for k in range(len(dims))),
                              dtype="float32")
            low, opt, high = (trt.Dims(list(s)) for s in self._profile_shapes(spec))
            profile.set_shape(tensor.name, low, opt, high)
        config.add_optimization_profile(profile)
        return config

    def _profile_shapes(self, spec: TensorSpec) -> tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]:
        """min/opt/max shapes: batch from the options, spatial dims fixed or from the options."""
        o = self._options
        shapes = []
        for batch, hw in ((o.min_batch, o.min_hw), (o.opt_batch, o.opt_hw), (o.max_batch, o.max_hw)):
            dims = [batch, *[d if isinstance(d, int) else 0 for d in spec.shape[1:]]]
            if hw:
                dims[-2], dims[-1] = hw
            if any(d <= 0 for d in dims):
                raise ConfigError("tensorrt.hw", f"input {spec.name} has dynamic dims {spec.shape}",
                                  fix="pass the min/opt/max height and width")
            shapes.append(tuple(dims))
        return shapes[0], shapes[1], shapes[2]

    def _timing_cache_path(self, out_dir: Path) -> Path:
        if self._options.timing_cache:
            return Path(self._options.timing_cache)
        return out_dir.parent.parent / "tensorrt.timing.cache"  # staging/<id>/ -> cache root

    def _load_timing_cache(self, config: trt.IBuilderConfig, out_dir: Path) -> None:
        path = self._timing_cache_path(out_dir)
        data = path.read_bytes() if path.is_file() else b""
        cache = config.create_timing_cache(data)
        if not config.set_timing_cache(cache, ignore_mismatch=False):
            config.set_timing_cache(config.create_timing_cache(b""), ignore_mismatch=False)


def make_builder(options: TensorRtOptions | None = None) -> TensorRtBuilder:
    return TensorRtBuilder(options or TensorRtOptions())
