"""What a TensorRT build and runtime should do, decided without TensorRT (pure functions).

Every choice that depends on the TensorRT version, the precision, the options or the GPU is
made here, from plain values, so it is tested on machines without a GPU; the modules that call
TensorRT (``compiler.tensorrt_build``, ``engines.tensorrt_backend``) only carry the plan out.

Version differences handled here:

- TensorRT 10 has weakly typed networks: FP16 is a builder flag (``BuilderFlag.FP16``) and
  INT8 comes from the Q/DQ nodes of a strongly typed network.
- TensorRT 11 removed weak typing (no ``BuilderFlag.FP16/INT8/BF16``; every network is strongly
  typed): FP16 needs a network whose tensors are FP16, so the ONNX is converted to FP16 (inputs and
  outputs kept FP32) before it is parsed.
- DLA is not supported by TensorRT 11.0 and 11.1.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from edge_ai_ros.errors import ConfigError, EngineError

Shape = tuple[int, ...]
Dim = int | str
PRECISIONS = ("fp32", "fp16", "int8")
DLA_PRECISIONS = ("fp16", "int8")


def major_version(version: str) -> int:
    """10 for "10.13.0.35"; ConfigError for a string that does not start with a number."""
    head = version.split(".", 1)[0]
    if not head.isdigit():
        raise ConfigError("tensorrt.version", f"cannot read the TensorRT version {version!r}",
                          fix="install a released TensorRT 10 or 11")
    return int(head)


def minor_version(version: str) -> int:
    parts = version.split(".")
    return int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0


@dataclass(frozen=True, kw_only=True)
class PrecisionPlan:
    """How one precision is built with one TensorRT version."""

    strongly_typed: bool  # every tensor's type comes from the network (Q/DQ, casts, FP16 weights)
    network_flags: tuple[str, ...]  # NetworkDefinitionCreationFlag member names (none on 11: always strong)
    set_flags: tuple[str, ...]  # BuilderFlag member names to set
    clear_flags: tuple[str, ...]  # BuilderFlag member names to clear
    fp16_onnx: bool  # convert the ONNX to FP16 (I/O kept FP32) before parsing

    def key_facts(self) -> dict[str, object]:
        return {"strongly_typed": self.strongly_typed, "builder_flags": list(self.set_flags),
                "cleared_flags": list(self.clear_flags), "fp16_onnx": self.fp16_onnx}


def precision_plan(precision: str, trt_major: int, *, allow_tf32: bool = False) -> PrecisionPlan:
    """Network typing and builder flags for ``precision`` on TensorRT ``trt_major``.

    TF32 is on by default in TensorRT; an engine labelled fp32 runs true FP32 unless
    ``allow_tf32`` (TF32 rounds matmul/conv inputs to a 10-bit mantissa on Ampere and newer).
    """
    if precision not in PRECISIONS:
        raise ConfigError("precision", f"tensorrt builds {PRECISIONS}, not {precision}", fix="pick one")
    if trt_major < 10:
        raise ConfigError("tensorrt.version", f"TensorRT {trt_major} is too old", fix="install TensorRT 10 or 11")
    clear = () if allow_tf32 else ("TF32",)
    if trt_major >= 11:  # weak typing is gone: every network is strongly typed
        return PrecisionPlan(strongly_typed=True, network_flags=(), set_flags=(), clear_flags=clear,
                             fp16_onnx=precision == "fp16")
    if precision == "fp16":
        return PrecisionPlan(strongly_typed=False, network_flags=(), set_flags=("FP16",), clear_flags=clear,
                             fp16_onnx=False)
    strong = precision == "int8"
    return PrecisionPlan(strongly_typed=strong, network_flags=("STRONGLY_TYPED",) if strong else (), set_flags=(),
                         clear_flags=clear, fp16_onnx=False)


@dataclass(frozen=True, kw_only=True)
class ProfileRange:
    """The options' ranges for dynamic dimensions: batch, and (height, width) when given."""

    batch: tuple[int, int, int] = (1, 1, 8)
    hw: tuple[tuple[int, int], tuple[int, int], tuple[int, int]] | None = None


def profile_shapes(name: str, shape: Sequence[Dim], ranges: ProfileRange) -> tuple[Shape, Shape, Shape]:
    """min/opt/max shapes of one input for the optimization profile.

    A fixed dimension is the same in all three (TensorRT requires min = opt = max there); a dynamic
    batch takes the options' batch range, dynamic height/width the options' hw range.
    """
    if not shape:
        return (), (), ()
    rank = len(shape)
    out: list[list[int]] = [[], [], []]
    for axis, dim in enumerate(shape):
        for k in range(3):
            out[k].append(_profile_dim(name, shape, axis, rank, dim, ranges, k))
    return tuple(out[0]), tuple(out[1]), tuple(out[2])


def _profile_dim(name: str, shape: Sequence[Dim], axis: int, rank: int, dim: Dim, ranges: ProfileRange,
                 k: int) -> int:
    if isinstance(dim, int) and dim > 0:
        return dim
    if axis == 0:
        return ranges.batch[k]
    if rank >= 3 and axis >= rank - 2 and ranges.hw is not None:
        return ranges.hw[k][axis - (rank - 2)]
    raise ConfigError("tensorrt.hw", f"input {name} has dynamic dims {list(shape)}",
                      fix="pass the min/opt/max height and width (--min-hw/--opt-hw/--max-hw)")


def is_static(profiles: Mapping[str, tuple[Shape, Shape, Shape]]) -> bool:
    """True when every input's profile has min = opt = max."""
    return all(low == opt == high for low, opt, high in profiles.values())


def check_dla(core: int, *, precision: str, version: str, profiles: Mapping[str, tuple[Shape, Shape, Shape]],
              cores_present: int) -> None:
    """Refuse a DLA build that would silently run on the GPU (or not build at all)."""
    if core < 0:
        return
    if major_version(version) == 11 and minor_version(version) <= 1:
        raise ConfigError("tensorrt.dla_core", f"TensorRT {version} does not support DLA",
                          fix="use TensorRT 10 or 11.2+ for DLA, or dla_core -1 (GPU)")
    if precision not in DLA_PRECISIONS:
        raise ConfigError("tensorrt.dla_core", f"DLA runs {DLA_PRECISIONS}, not {precision}",
                          fix="build fp16 or int8 for DLA")
    if not is_static(profiles):
        raise ConfigError("tensorrt.dla_core", f"DLA needs static shapes, the profile is {dict(profiles)}",
                          fix="set min = opt = max batch (and height/width) for DLA builds")
    if core >= cores_present:
        raise ConfigError("tensorrt.dla_core", f"core {core} requested, {cores_present} present",
                          fix="use -1 (GPU) or an existing core")


def check_hardware_compatible(hardware_compatible: bool, *, integrated_gpu: bool) -> None:
    """Hardware-compatible engines are not supported on JetPack / DRIVE OS (integrated GPUs)."""
    if hardware_compatible and integrated_gpu:
        raise ConfigError("tensorrt.hardware_compatible", "hardware compatibility is not supported on "
                          "integrated GPUs (JetPack, DRIVE OS)", fix="build without --hardware-compatible")


def key_device(device: str, *, hardware_compatible: bool) -> str:
    """The device a cache key (and manifest) names: any Ampere+ GPU for hardware-compatible engines."""
    return "cuda:ampere+ (hardware compatible)" if hardware_compatible else device


def key_version(version: str, *, version_compatible: bool) -> str:
    """The TensorRT version a cache key names: the major version for version-compatible engines."""
    return f"{major_version(version)}.x (version compatible)" if version_compatible else version


def runtime_allows_host_code(build_flags: Mapping[str, object]) -> bool:
    """A version-compatible plan embeds the lean runtime, which the runtime must be allowed to run."""
    return bool(build_flags.get("version_compatible", False))


def concrete_shape(name: str, dims: Sequence[int]) -> Shape:
    """An output's shape once the inputs are set; -1 left means it depends on the data."""
    if any(int(d) < 0 for d in dims):
        raise EngineError(f"output {name!r} has a data-dependent shape {list(dims)} (NonZero, NMS or similar "
                          "inside the graph), which this TensorRT engine does not serve",
                          fix="export the model without in-graph NMS/NonZero (decode on the host), "
                              "or serve it with onnxruntime/openvino")
    return tuple(int(d) for d in dims)
