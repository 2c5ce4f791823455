"""What the TensorRT builder and engine share: the import, the one logger, the usability probe.

``compiler.tensorrt_build`` and ``engines.tensorrt_backend`` both use this module and not each
other. ``tensorrt`` and ``cuda`` are imported only when a function here is called.
"""

from __future__ import annotations

import functools
import importlib
import logging
from types import ModuleType
from typing import TYPE_CHECKING

from edge_ai_ros.errors import BackendUnavailableError

if TYPE_CHECKING:
    import tensorrt as trt

_LOG = logging.getLogger(__name__)
INSTALL_FIX = "install TensorRT 10+ and cuda-python on an NVIDIA machine, or use --backend openvino/onnxruntime"


def import_tensorrt() -> ModuleType:
    """The real tensorrt module, or BackendUnavailableError (type stubs alone import as a namespace)."""
    try:
        module = importlib.import_module("tensorrt")
    except ImportError as err:
        raise BackendUnavailableError("TensorRT is not installed (import tensorrt failed)", fix=INSTALL_FIX) from err
    if not hasattr(module, "Builder"):
        raise BackendUnavailableError("only TensorRT type stubs are installed, not the runtime", fix=INSTALL_FIX)
    return module


@functools.cache
def trt_logger() -> trt.ILogger:
    """The process's one TensorRT logger (TensorRT keeps a single global logger; all objects share it)."""
    import_tensorrt()
    import tensorrt as trt

    return trt.Logger(trt.Logger.WARNING)


def probe_verdict(*, trt_error: str, cuda_error: str, device_count: int) -> tuple[bool, str]:
    """Whether TensorRT can run here, from the probe's facts, and why (pure)."""
    if trt_error:
        return False, trt_error
    if cuda_error:
        return False, f"TensorRT is installed but CUDA is not usable: {cuda_error}"
    if device_count < 1:
        return False, "TensorRT is installed but no CUDA GPU is visible"
    return True, f"TensorRT with {device_count} CUDA GPU(s)"


def _cuda_facts() -> tuple[str, int]:
    try:
        from cuda.bindings import runtime
    except ImportError:
        return "cuda-python is not installed (pip install cuda-python)", 0
    err, count = runtime.cudaGetDeviceCount()
    if int(err) != 0:
        return f"cudaGetDeviceCount failed: {err} (no driver or no GPU)", 0
    return "", int(count)


@functools.cache
def tensorrt_usable() -> tuple[bool, str]:
    """(usable, reason): TensorRT imports, cuda-python imports, and a CUDA device is present.

    Cached per process: ``auto`` backend choices ask often, and the answer does not change.
    """
    try:
        import_tensorrt()
    except BackendUnavailableError as err:
        return probe_verdict(trt_error=str(err), cuda_error="", device_count=0)
    cuda_error, count = _cuda_facts()
    usable, reason = probe_verdict(trt_error="", cuda_error=cuda_error, device_count=count)
    if not usable:  # installed but unusable is worth saying once: auto falls back to a CPU backend
        _LOG.warning("TensorRT is not used: %s", reason)
    return usable, reason


def require_tensorrt() -> None:
    """Raise BackendUnavailableError with the probe's reason unless TensorRT can run here."""
    usable, reason = tensorrt_usable()
    if not usable:
        raise BackendUnavailableError(reason, fix=INSTALL_FIX)
