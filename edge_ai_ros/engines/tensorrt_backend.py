"""TensorRT runtime: deserialize a plan, bind device buffers by tensor name, run on a stream.

Host numpy arrays cross the Engine boundary; device memory and the CUDA stream stay inside
(cuda-python's ``cuda.bindings.runtime``, not pycuda). Inputs are copied host->device,
``execute_async_v3`` runs on the engine's stream, outputs are copied back and the stream
is synchronised before ``infer`` returns. Buffers grow when a larger batch arrives (within
the optimization profile) and are reused otherwise. ``tensorrt`` and ``cuda`` are imported
only when an engine is made, so importing this module needs neither.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from edge_ai_ros.engines.base import EngineInfo, TensorSpec
from edge_ai_ros.engines.options import EngineOptions
from edge_ai_ros.errors import BackendUnavailableError, EngineError

NAME = "tensorrt"


def _cudart() -> Any:
    try:
        from cuda.bindings import runtime
    except ImportError as err:
        raise BackendUnavailableError("cuda-python is not installed", fix="pip install cuda-python") from err
    return runtime


def _check(result: tuple[Any, ...], what: str) -> Any:
    """cuda-python returns (error, *values); raise EngineError unless the error is cudaSuccess."""
    err, *values = result
    if int(err) != 0:
        raise EngineError(f"CUDA {what} failed: {err}", fix="check the GPU, its driver and free memory")
    return values[0] if len(values) == 1 else tuple(values)


def cuda_device_string(index: int = 0) -> str:
    """E.g. "cuda:NVIDIA H100 80GB HBM3 (sm_90)": GPU name and compute capability, for keys and manifests."""
    cudart = _cudart()
    props = _check(cudart.cudaGetDeviceProperties(index), "cudaGetDeviceProperties")
    name = props.name.decode() if isinstance(props.name, bytes) else str(props.name)
    return f"cuda:{name.strip(chr(0))} (sm_{props.major}{props.minor})"


class _DeviceBuffer:
    """One cudaMalloc'd block, regrown on demand."""

    def __init__(self, cudart: Any) -> None:
        self._cudart, self.ptr, self.nbytes = cudart, 0, 0

    def ensure(self, nbytes: int) -> int:
        if nbytes > self.nbytes:
            self.free()
            self.ptr = int(_check(self._cudart.cudaMalloc(nbytes), "cudaMalloc"))
            self.nbytes = nbytes
        return self.ptr

    def free(self) -> None:
        if self.ptr:
            _check(self._cudart.cudaFree(self.ptr), "cudaFree")
            self.ptr, self.nbytes = 0, 0


class TensorRtEngine:
    """A deserialized TensorRT engine with one execution context and one stream."""

    def __init__(self, path: str | Path, *, precision: str = "fp32", device_index: int = 0,
                 details: Mapping[str, str] | None = None) -> None:
        from edge_ai_ros.compiler.tensorrt_build import import_tensorrt

        trt = import_tensorrt()
        self._trt, self._cudart = trt, _cudart()
        _check(self._cudart.cudaSetDevice(device_index), "cudaSetDevice")
        self._logger = trt.Logger(trt.Logger.WARNING)
        self._runtime = trt.Runtime(self._logger)
        self._engine = self._runtime.deserialize_cuda_engine(Path(path).read_bytes())
        if self._engine is None:
            raise EngineError(f"TensorRT could not deserialize {path}",
                              fix="the plan was built by another TensorRT version or for another GPU; rebuild it")
        self._context = self._engine.create_execution_context()
        self._stream = _check(self._cudart.cudaStreamCreate(), "cudaStreamCreate")
        names = [self._engine.get_tensor_name(i) for i in range(self._engine.num_io_tensors)]
        self._inputs = [n for n in names if self._engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT]
        self._outputs = [n for n in names if n not in self._inputs]
        self._buffers = {n: _DeviceBuffer(self._cudart) for n in names}
        self._info = EngineInfo(
            backend=NAME, backend_version=str(trt.__version__), device=cuda_device_string(device_index),
            precision=precision, inputs=tuple(self._spec(n) for n in self._inputs),
            outputs=tuple(self._spec(n) for n in self._outputs), details={"path": str(path), **(details or {})},
        )

    @property
    def info(self) -> EngineInfo:
        return self._info

    def _spec(self, name: str) -> TensorSpec:
        dims = self._engine.get_tensor_shape(name)
        shape = tuple(int(dims[k]) if dims[k] >= 0 else "dyn" for k in range(len(dims)))
        dtype = np.dtype(self._trt.nptype(self._engine.get_tensor_dtype(name))).name
        return TensorSpec(name=name, shape=shape, dtype=dtype)

    def infer(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        if self._context is None:
            raise EngineError("the TensorRT engine is closed", fix="load the engine again")
        cudart, stream = self._cudart, self._stream
        h2d, d2h = cudart.cudaMemcpyKind.cudaMemcpyHostToDevice, cudart.cudaMemcpyKind.cudaMemcpyDeviceToHost
        hosts = []
        for name in self._inputs:
            if name not in feeds:
                raise EngineError(f"input {name!r} missing from feeds", fix=f"pass {self._inputs}")
            host = np.ascontiguousarray(feeds[name], dtype=self._trt.nptype(self._engine.get_tensor_dtype(name)))
            hosts.append(host)
            if not self._context.set_input_shape(name, host.shape):
                raise EngineError(f"input {name!r} shape {host.shape} is outside the optimization profile",
                                  fix="rebuild with a profile that covers this shape")
            ptr = self._buffers[name].ensure(host.nbytes)
            self._context.set_tensor_address(name, ptr)
            _check(cudart.cudaMemcpyAsync(ptr, host.ctypes.data, host.nbytes, h2d, stream), "cudaMemcpyAsync")
        results = {}
        for name in self._outputs:
            dims = self._context.get_tensor_shape(name)
            shape = tuple(int(dims[k]) for k in range(len(dims)))
            out = np.empty(shape, dtype=self._trt.nptype(self._engine.get_tensor_dtype(name)))
            self._context.set_tensor_address(name, self._buffers[name].ensure(max(out.nbytes, 1)))
            results[name] = out
        if not self._context.execute_async_v3(int(stream)):
            raise EngineError("TensorRT execute_async_v3 failed", fix="see the TensorRT log for the failing layer")
        for name, out in results.items():
            _check(cudart.cudaMemcpyAsync(out.ctypes.data, self._buffers[name].ptr, out.nbytes, d2h, stream),
                   "cudaMemcpyAsync")
        _check(cudart.cudaStreamSynchronize(stream), "cudaStreamSynchronize")
        del hosts  # host inputs must outlive the async copies; released after the sync
        return results

    def close(self) -> None:
        if self._context is None:
            return
        for buffer in self._buffers.values():
            buffer.free()
        _check(self._cudart.cudaStreamDestroy(self._stream), "cudaStreamDestroy")
        self._context = None
        self._engine = None


def create_engine(path: str | Path, options: EngineOptions, *, model_precision: str = "fp32",
                  details: Mapping[str, str] | None = None) -> TensorRtEngine:
    """The registry's entry point (same signature as every backend module's)."""
    return TensorRtEngine(path, precision=model_precision, device_index=options.device_index, details=details)
