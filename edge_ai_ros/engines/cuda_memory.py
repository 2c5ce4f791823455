"""CUDA buffers and streams for the TensorRT engine (cuda-python's ``cuda.bindings.runtime``).

- ``DeviceBuffer``: one cudaMalloc'd block, regrown on demand, freed by ``close``.
- ``PinnedBuffer``: page-locked host memory (cudaMallocHost) seen as a numpy array, so
  host<->device copies are truly asynchronous and can overlap.
- ``CudaStream``: one stream per engine.
- ``ThreadDevice``: CUDA's current device is per thread; it is set once in every thread that
  runs the engine, not only in the thread that made it.
Nothing here needs TensorRT; ``cuda`` is imported on first use.
"""

from __future__ import annotations

import ctypes
import threading
from collections.abc import Callable
from typing import Any

import numpy as np

from edge_ai_ros.errors import BackendUnavailableError, EngineError


def cudart() -> Any:
    try:
        from cuda.bindings import runtime
    except ImportError as err:
        raise BackendUnavailableError("cuda-python is not installed", fix="pip install cuda-python") from err
    return runtime


def check(result: tuple[Any, ...], what: str) -> Any:
    """cuda-python returns (error, *values); raise EngineError unless the error is cudaSuccess."""
    err, *values = result
    if int(err) != 0:
        raise EngineError(f"CUDA {what} failed: {err}", fix="check the GPU, its driver and free memory")
    if not values:
        return None
    return values[0] if len(values) == 1 else tuple(values)


def device_properties(index: int = 0) -> Any:
    return check(cudart().cudaGetDeviceProperties(index), "cudaGetDeviceProperties")


def cuda_device_string(index: int = 0) -> str:
    """E.g. "cuda:NVIDIA H100 80GB HBM3 (sm_90)": GPU name and compute capability, for keys and manifests."""
    props = device_properties(index)
    name = props.name.decode() if isinstance(props.name, bytes) else str(props.name)
    return f"cuda:{name.strip(chr(0))} (sm_{props.major}{props.minor})"


def is_integrated(index: int = 0) -> bool:
    """True for an integrated GPU (Jetson / DRIVE), which shares memory with the CPU."""
    return bool(device_properties(index).integrated)


class ThreadDevice:
    """Make ``index`` the current CUDA device in each calling thread, once per thread."""

    def __init__(self, index: int, set_device: Callable[[int], None]) -> None:
        self.index, self._set_device, self._local = index, set_device, threading.local()

    def ensure(self) -> None:
        if getattr(self._local, "done", False):
            return
        self._set_device(self.index)
        self._local.done = True


def set_device(index: int) -> None:
    check(cudart().cudaSetDevice(index), "cudaSetDevice")


class DeviceBuffer:
    """One cudaMalloc'd block, regrown on demand."""

    def __init__(self) -> None:
        self.ptr, self.nbytes = 0, 0

    def ensure(self, nbytes: int) -> int:
        if nbytes > self.nbytes:
            self.close()
            self.ptr = int(check(cudart().cudaMalloc(max(nbytes, 1)), "cudaMalloc"))
            self.nbytes = nbytes
        return self.ptr

    def close(self) -> None:
        if self.ptr:
            ptr, self.ptr, self.nbytes = self.ptr, 0, 0
            check(cudart().cudaFree(ptr), "cudaFree")


class PinnedBuffer:
    """Page-locked host memory, regrown on demand; ``view`` gives it as an array of one dtype and shape."""

    def __init__(self) -> None:
        self.ptr, self.nbytes = 0, 0

    def view(self, shape: tuple[int, ...], dtype: np.dtype[Any]) -> np.ndarray:
        nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
        if nbytes > self.nbytes:
            self.close()
            self.ptr = int(check(cudart().cudaMallocHost(max(nbytes, 1)), "cudaMallocHost"))
            self.nbytes = nbytes
        raw = (ctypes.c_uint8 * max(nbytes, 1)).from_address(self.ptr)
        array: np.ndarray = np.frombuffer(memoryview(raw), dtype=dtype, count=nbytes // dtype.itemsize)
        return array.reshape(shape)

    def close(self) -> None:
        if self.ptr:
            ptr, self.ptr, self.nbytes = self.ptr, 0, 0
            check(cudart().cudaFreeHost(ptr), "cudaFreeHost")


class CudaStream:
    """One CUDA stream; ``handle`` is what TensorRT and the async copies take."""

    def __init__(self) -> None:
        self._stream: Any = check(cudart().cudaStreamCreate(), "cudaStreamCreate")

    @property
    def handle(self) -> int:
        if self._stream is None:
            raise EngineError("the CUDA stream is closed", fix="load the engine again")
        return int(self._stream)

    def copy_to_device(self, dst: int, src: np.ndarray) -> None:
        kind = cudart().cudaMemcpyKind.cudaMemcpyHostToDevice
        check(cudart().cudaMemcpyAsync(dst, src.ctypes.data, src.nbytes, kind, self._stream), "cudaMemcpyAsync")

    def copy_to_host(self, dst: np.ndarray, src: int) -> None:
        kind = cudart().cudaMemcpyKind.cudaMemcpyDeviceToHost
        check(cudart().cudaMemcpyAsync(dst.ctypes.data, src, dst.nbytes, kind, self._stream), "cudaMemcpyAsync")

    def synchronize(self) -> None:
        check(cudart().cudaStreamSynchronize(self._stream), "cudaStreamSynchronize")

    def close(self) -> None:
        if self._stream is not None:
            stream, self._stream = self._stream, None
            check(cudart().cudaStreamDestroy(stream), "cudaStreamDestroy")
