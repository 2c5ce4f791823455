"""glibc malloc settings of processes that move camera frames, and giving memory back.

Frames: a 640x480 rgb8 frame passes through several 900 KB buffers per hop (the DDS sample,
the C message, the Python array). glibc serves such sizes from fresh mmap()ed pages, or from
a heap whose free top it trims right away, so every frame paid ~225 page faults per buffer.
:func:`keep_frame_buffers` fixes the thresholds so freed frame buffers stay mapped and the
next frame reuses them. Measured here (30 Hz, bare rclpy publisher and subscriber on one
host): publish -> callback 2.3 -> 0.95 ms p50.

Swaps: an engine loaded and freed in a different thread each swap leaves its pages in that
thread's malloc arena, so resident memory creeps up over repeated swaps although nothing
leaks. ``malloc_trim(0)`` returns the free pages of every arena.

Elsewhere than glibc (musl, macOS) both are no-ops.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import gc
from typing import Any


@functools.cache
def _libc() -> Any:
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
    except OSError:
        return None
    return libc if libc is not None and hasattr(libc, "malloc_trim") else None


_M_TRIM_THRESHOLD = -1  # mallopt parameters, glibc's malloc.h
_M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD_BYTES = 16 << 20  # buffers below this come from the heap (a 4K rgb8 frame is 24 MB)
TRIM_THRESHOLD_BYTES = 64 << 20  # free heap top kept mapped up to this (trim_heap still returns it)


def keep_frame_buffers() -> bool:
    """Fixed malloc thresholds for frame-sized buffers in this process; True if glibc took them."""
    libc = _libc()
    if libc is None or not hasattr(libc, "mallopt"):
        return False
    return bool(libc.mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES)) and \
        bool(libc.mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES))


def trim_heap() -> bool:
    """Collect garbage and release free heap pages; True if malloc_trim ran."""
    gc.collect()
    libc = _libc()
    if libc is None:
        return False
    libc.malloc_trim(0)
    return True
