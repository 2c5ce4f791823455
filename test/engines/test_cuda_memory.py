"""The CUDA buffer and stream layer of the TensorRT engine: runs where cuda-python and a GPU exist."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from edge_ai_ros.engines import cuda_memory
from edge_ai_ros.errors import EngineError


def _cuda_reason() -> str:
    try:
        from cuda.bindings import runtime
    except ImportError:
        return "cuda-python is not installed"
    err, count = runtime.cudaGetDeviceCount()
    if int(err) != 0 or int(count) < 1:
        return f"no CUDA GPU ({err})"
    return ""


CUDA_REASON = _cuda_reason()
pytestmark = pytest.mark.skipif(bool(CUDA_REASON), reason=f"needs cuda-python and a GPU: {CUDA_REASON}")


def _round_trip(stream: cuda_memory.CudaStream, array: np.ndarray) -> np.ndarray:
    up, down = cuda_memory.PinnedBuffer(), cuda_memory.PinnedBuffer()
    device = cuda_memory.DeviceBuffer()
    try:
        host = up.view(array.shape, array.dtype)
        host[...] = array
        stream.copy_to_device(device.ensure(host.nbytes), host)
        back = down.view(array.shape, array.dtype)
        stream.copy_to_host(back, device.ptr)
        stream.synchronize()
        return back.copy()
    finally:
        for buffer in (up, down, device):
            buffer.close()


def test_pinned_staging_round_trips_through_the_device() -> None:
    stream = cuda_memory.CudaStream()
    try:
        data = np.random.default_rng(0).random((2, 3, 17, 19), dtype=np.float32)
        np.testing.assert_array_equal(_round_trip(stream, data), data)
    finally:
        stream.close()


def test_buffers_grow_only_when_needed_and_close_is_idempotent() -> None:
    device, pinned = cuda_memory.DeviceBuffer(), cuda_memory.PinnedBuffer()
    ptr = device.ensure(1024)
    assert device.ensure(512) == ptr and device.nbytes == 1024
    assert device.ensure(4096) and device.nbytes == 4096
    view = pinned.view((8, 8), np.dtype(np.float32))
    assert view.shape == (8, 8) and pinned.nbytes == 256
    for buffer in (device, pinned):
        buffer.close()
        buffer.close()
        assert buffer.ptr == 0


def test_a_closed_stream_refuses_work() -> None:
    stream = cuda_memory.CudaStream()
    stream.close()
    stream.close()
    with pytest.raises(EngineError, match="closed"):
        _ = stream.handle


def test_each_thread_copies_on_the_engines_device() -> None:
    device = cuda_memory.ThreadDevice(0, cuda_memory.set_device)
    stream = cuda_memory.CudaStream()
    results: list[bool] = []

    def work() -> None:
        device.ensure()
        data = np.arange(64, dtype=np.float32)
        results.append(bool(np.array_equal(_round_trip(stream, data), data)))

    try:
        threads = [threading.Thread(target=work) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
    finally:
        stream.close()
    assert results == [True, True]


def test_device_string_names_the_gpu_and_its_compute_capability() -> None:
    assert cuda_memory.cuda_device_string().startswith("cuda:") and "(sm_" in cuda_memory.cuda_device_string()
