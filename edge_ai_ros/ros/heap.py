"""Give memory freed by a closed engine back to the operating system.

An engine loaded and freed in a different thread each swap leaves its pages in that thread's
glibc malloc arena, so resident memory creeps up over repeated swaps although nothing leaks.
``malloc_trim(0)`` returns the free pages of every arena; elsewhere (musl, macOS) this is a no-op.
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


def trim_heap() -> bool:
    """Collect garbage and release free heap pages; True if malloc_trim ran."""
    gc.collect()
    libc = _libc()
    if libc is None:
        return False
    libc.malloc_trim(0)
    return True
