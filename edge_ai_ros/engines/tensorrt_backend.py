"""TensorRT runtime: deserialize a plan, bind device buffers by tensor name, run on a stream.

Host numpy arrays cross the Engine boundary; device memory and the CUDA stream stay inside
(``engines.cuda_memory``). Inputs are staged in pinned host memory and copied host->device,
``execute_async_v3`` runs on the engine's own stream, outputs come back through pinned memory
and the stream is synchronised before ``infer`` returns (the returned arrays are copies the
caller owns). Buffers grow when a larger batch arrives (within the optimization profile) and
are reused otherwise. The CUDA device is made current in every thread that calls ``infer``.
``close`` (or ``with``) releases the buffers, the stream, the context and the engine.
``tensorrt`` and ``cuda`` are imported only when an engine is made.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

import numpy as np

from edge_ai_ros.engines import cuda_memory
from edge_ai_ros.engines.base import EngineInfo, TensorSpec
from edge_ai_ros.engines.options import EngineOptions
from edge_ai_ros.engines.tensorrt_policy import concrete_shape, runtime_allows_host_code
from edge_ai_ros.engines.tensorrt_runtime import require_tensorrt, trt_logger
from edge_ai_ros.errors import EngineError
from edge_ai_ros.manifest import load_manifest, manifest_path_for

if TYPE_CHECKING:
    import tensorrt as trt

NAME = "tensorrt"


class _Binding:
    """One I/O tensor's device buffer and pinned host staging buffer."""

    def __init__(self) -> None:
        self.device, self.host = cuda_memory.DeviceBuffer(), cuda_memory.PinnedBuffer()

    def close(self) -> None:
        self.device.close()
        self.host.close()


class TensorRtEngine:
    """A deserialized TensorRT engine with one execution context and one stream."""

    def __init__(self, path: str | Path, *, precision: str = "fp32", device_index: int = 0,
                 details: Mapping[str, str] | None = None, allow_host_code: bool = False) -> None:
        require_tensorrt()
        import tensorrt as trt

        self._device = cuda_memory.ThreadDevice(device_index, cuda_memory.set_device)
        self._device.ensure()
        device = cuda_memory.cuda_device_string(device_index)
        self._lock = threading.Lock()
        self._runtime: trt.Runtime | None = trt.Runtime(trt_logger())
        self._runtime.engine_host_code_allowed = allow_host_code
        self._engine: trt.ICudaEngine | None = self._deserialize(self._runtime, Path(path), allow_host_code)
        context = self._engine.create_execution_context()
        if context is None:
            raise EngineError(f"TensorRT could not create an execution context for {path}",
                              fix="free GPU memory (other engines, processes) and load again")
        self._context: trt.IExecutionContext | None = context
        self._stream = cuda_memory.CudaStream()
        names = [self._engine.get_tensor_name(i) for i in range(self._engine.num_io_tensors)]
        self._inputs = [n for n in names if self._engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT]
        self._outputs = [n for n in names if n not in self._inputs]
        nptype: Callable[[trt.DataType], Any] = trt.nptype  # the stubs leave it unannotated
        self._dtypes = {n: np.dtype(nptype(self._engine.get_tensor_dtype(n))) for n in names}
        self._bindings = {n: _Binding() for n in names}
        self._info = EngineInfo(
            backend=NAME, backend_version=str(trt.__version__),
            device=device, precision=precision,
            inputs=tuple(self._spec(n) for n in self._inputs), outputs=tuple(self._spec(n) for n in self._outputs),
            details={"path": str(path), **self._profile_batch(), **(details or {})},
        )

    def _profile_batch(self) -> dict[str, str]:
        """``max_batch``: the largest batch of the optimization profile when the batch is dynamic
        (pipeline.batch_limit splits bigger batches across calls)."""
        assert self._engine is not None
        if not self._inputs or int(self._engine.get_tensor_shape(self._inputs[0])[0]) >= 0:
            return {}
        shapes = self._engine.get_tensor_profile_shape(self._inputs[0], 0)  # (min, opt, max) of profile 0
        return {"max_batch": str(int(shapes[2][0]))}

    @staticmethod
    def _deserialize(runtime: trt.Runtime, path: Path, allow_host_code: bool) -> trt.ICudaEngine:
        engine = runtime.deserialize_cuda_engine(path.read_bytes())
        if engine is None:
            hint = "" if allow_host_code else " (a version-compatible plan also needs its manifest next to it)"
            raise EngineError(f"TensorRT could not deserialize {path}{hint}",
                              fix="the plan was built by another TensorRT version or for another GPU; rebuild it")
        return engine

    @property
    def info(self) -> EngineInfo:
        return self._info

    def _spec(self, name: str) -> TensorSpec:
        assert self._engine is not None
        dims = self._engine.get_tensor_shape(name)
        shape = tuple(int(dims[k]) if dims[k] >= 0 else "dyn" for k in range(len(dims)))
        return TensorSpec(name=name, shape=shape, dtype=self._dtypes[name].name)

    def infer(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        with self._lock:
            context = self._context
            if context is None:
                raise EngineError("the TensorRT engine is closed", fix="load the engine again")
            self._device.ensure()
            for name in self._inputs:
                self._stage_input(context, name, feeds)
            staged = {name: self._bind_output(context, name) for name in self._outputs}
            if not context.execute_async_v3(self._stream.handle):
                raise EngineError("TensorRT execute_async_v3 failed", fix="see the TensorRT log for the failing layer")
            for name, host in staged.items():
                self._stream.copy_to_host(host, self._bindings[name].device.ptr)
            self._stream.synchronize()
            return {name: host.copy() for name, host in staged.items()}

    def _stage_input(self, context: trt.IExecutionContext, name: str, feeds: Mapping[str, np.ndarray]) -> None:
        if name not in feeds:
            raise EngineError(f"input {name!r} missing from feeds", fix=f"pass {self._inputs}")
        array = np.asarray(feeds[name])
        if not context.set_input_shape(name, array.shape):
            raise EngineError(f"input {name!r} shape {array.shape} is outside the optimization profile",
                              fix="rebuild with a profile that covers this shape")
        binding = self._bindings[name]
        host = binding.host.view(array.shape, self._dtypes[name])
        host[...] = array  # into pinned memory, converted to the engine's dtype
        ptr = binding.device.ensure(host.nbytes)
        context.set_tensor_address(name, ptr)
        self._stream.copy_to_device(ptr, host)

    def _bind_output(self, context: trt.IExecutionContext, name: str) -> np.ndarray:
        dims = context.get_tensor_shape(name)
        shape = concrete_shape(name, [int(dims[k]) for k in range(len(dims))])
        binding = self._bindings[name]
        host = binding.host.view(shape, self._dtypes[name])
        context.set_tensor_address(name, binding.device.ensure(host.nbytes))
        return host

    def close(self) -> None:
        """Release the device and pinned buffers, the stream, the context and the engine (idempotent)."""
        with self._lock:
            if self._context is None:
                return
            self._context = None
            for binding in self._bindings.values():
                binding.close()
            self._stream.close()
            self._engine = None
            self._runtime = None

    def __enter__(self) -> TensorRtEngine:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


def build_flags_of(path: Path) -> Mapping[str, Any]:
    """The build flags recorded in the plan's manifest (empty without one)."""
    manifest_file = manifest_path_for(path)
    if not manifest_file.is_file():
        return {}
    flags = load_manifest(manifest_file).build.get("flags", {})
    return flags if isinstance(flags, Mapping) else {}


def create_engine(path: str | Path, options: EngineOptions, *, model_precision: str = "fp32",
                  details: Mapping[str, str] | None = None) -> TensorRtEngine:
    """The registry's entry point (same signature as every backend module's)."""
    allow = runtime_allows_host_code(build_flags_of(Path(path)))
    return TensorRtEngine(path, precision=model_precision, device_index=options.device_index, details=details,
                          allow_host_code=allow)
