"""Names for the CPU an engine runs on, for manifests, diagnostics and cache keys.

Two machines whose strings match run the same kernels: the string names the architecture
and the instruction-set extensions that change which kernels a runtime picks (VNNI, AMX,
BF16, FP16), read from /proc/cpuinfo.
"""

from __future__ import annotations

import functools
import os
import platform
from pathlib import Path

#: Extensions that change kernel choice, in the order they are reported.
KERNEL_FLAGS: tuple[str, ...] = (
    "avx2", "avx512f", "avx512_vnni", "avx512_bf16", "avx512_fp16", "avx_vnni",
    "amx_tile", "amx_int8", "amx_bf16", "amx_fp16",
    "asimd", "asimddp", "asimdhp", "i8mm", "bf16", "sve", "sve2",
)


def cpu_flags(cpuinfo: str) -> frozenset[str]:
    """The feature flags in the text of /proc/cpuinfo ("flags" on x86, "Features" on Arm)."""
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):
            return frozenset(value.split())
    return frozenset()


def device_string(machine: str, flags: frozenset[str]) -> str:
    """E.g. "cpu:x86_64:avx2,avx512f,avx512_vnni"; "cpu:<arch>" when no listed flag is present."""
    present = [flag for flag in KERNEL_FLAGS if flag in flags]
    return f"cpu:{machine}:{','.join(present)}" if present else f"cpu:{machine}"


@functools.cache
def cpu_device_string() -> str:
    """This machine's CPU as a device string (cached: the CPU does not change while we run)."""
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        text = ""
    return device_string(platform.machine() or "unknown", cpu_flags(text))


def available_cores() -> int:
    """Cores this process may run on (its affinity mask, not the machine's total)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1
