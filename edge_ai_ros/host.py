"""What this host offers: CPU features, cores, CPU quota, load and runtime versions.

ROS-free and runtime-free: it reads /proc and /sys and asks ``importlib.metadata`` for
versions, so it imports neither torch nor any inference runtime. Three users:

- the INT8 format choice (``int8_format``) and the accuracy gate, which must know whether
  the CPU has an INT8 dot-product instruction (VNNI, AMX, Arm's SDOT);
- manifests and the compiler cache, which record the features an artifact was built and
  checked for (``host_record``) and refuse it where this host lacks one (``check_host_record``);
- benchmarks, whose JSON carries ``describe_host()`` so their numbers name their host.
"""

from __future__ import annotations

import functools
import os
import platform
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from edge_ai_ros.errors import ManifestError

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

X86_MACHINES = ("x86_64", "amd64", "i386", "i686")
#: Capabilities an artifact can depend on, and the ISA flags (/proc/cpuinfo names) that supply them.
CAPABILITY_FLAGS: dict[str, tuple[str, ...]] = {
    # u8 x s8 products summed in 32 bits without an int16 intermediate that can saturate
    "int8_dot": ("avx512_vnni", "avx_vnni", "amx_int8", "asimddp"),
    "bf16": ("avx512_bf16", "amx_bf16", "bf16"),
    "fp16": ("avx512_fp16", "amx_fp16", "asimdhp"),
    "amx": ("amx_tile",),
}
RUNTIME_PACKAGES = ("onnxruntime", "openvino", "tensorrt", "torch", "numpy", "onnx")
HOST_RECORD_SCHEMA = 1


@dataclass(frozen=True, kw_only=True)
class CpuFeatures:
    """The CPU's architecture and the kernel-relevant ISA flags it reports."""

    machine: str
    flags: frozenset[str]  # only flags in KERNEL_FLAGS

    @property
    def is_x86(self) -> bool:
        return self.machine.lower() in X86_MACHINES

    def has(self, flag: str) -> bool:
        return flag in self.flags

    def capabilities(self) -> frozenset[str]:
        return frozenset(c for c, flags in CAPABILITY_FLAGS.items() if any(f in self.flags for f in flags))

    @property
    def int8_dot(self) -> bool:
        return "int8_dot" in self.capabilities()

    def sorted_flags(self) -> list[str]:
        return [f for f in KERNEL_FLAGS if f in self.flags]


def parse_cpu_features(cpuinfo: str, machine: str) -> CpuFeatures:
    """Features from the text of /proc/cpuinfo ("flags" on x86, "Features" on Arm)."""
    return CpuFeatures(machine=machine, flags=cpu_flags(cpuinfo) & frozenset(KERNEL_FLAGS))


def _cpuinfo_text() -> str:
    try:
        return Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""


@functools.cache
def host_features() -> CpuFeatures:
    """This host's CPU features (cached: they do not change while we run)."""
    return parse_cpu_features(_cpuinfo_text(), platform.machine() or "unknown")


def cpu_model(cpuinfo: str) -> str:
    """"model name" on x86; on Arm the implementer/part ids (no marketing name is reported)."""
    fields: dict[str, str] = {}
    for line in cpuinfo.splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip() not in fields:
            fields[key.strip()] = value.strip()
    if "model name" in fields:
        return fields["model name"]
    if "CPU part" in fields:
        return f"arm implementer {fields.get('CPU implementer', '?')} part {fields['CPU part']}"
    return platform.processor() or "unknown"


def cgroup_cpu_quota(root: Path = Path("/sys/fs/cgroup"), self_cgroup: Path = Path("/proc/self/cgroup")) -> float | None:
    """CPUs this process's cgroup may use (quota / period), or None when unlimited or unknown."""
    try:
        lines = self_cgroup.read_text(encoding="utf-8").splitlines()
    except OSError:
        return None
    for line in lines:
        _, controllers, path = (line.split(":", 2) + ["", ""])[:3]
        rel = path.lstrip("/")
        if controllers == "":  # cgroup v2: one unified hierarchy, cpu.max = "<quota|max> <period>"
            quota = _read_cpu_max(root / rel / "cpu.max")
        elif "cpu" in controllers.split(","):  # cgroup v1: cfs_quota_us / cfs_period_us
            quota = _read_cfs(root / "cpu" / rel) or _read_cfs(root / "cpu")
        else:
            continue
        if quota is not None:
            return quota
    return None


def _read_cpu_max(path: Path) -> float | None:
    try:
        quota, period = path.read_text(encoding="utf-8").split()[:2]
    except (OSError, ValueError):
        return None
    return None if quota == "max" else round(int(quota) / int(period), 3)


def _read_cfs(folder: Path) -> float | None:
    try:
        quota = int((folder / "cpu.cfs_quota_us").read_text(encoding="utf-8"))
        period = int((folder / "cpu.cfs_period_us").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return None if quota <= 0 or period <= 0 else round(quota / period, 3)


def load_average() -> list[float] | None:
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except OSError:
        return None


def runtime_versions(packages: Iterable[str] = RUNTIME_PACKAGES) -> dict[str, str | None]:
    """Installed versions from package metadata (None where absent); imports no runtime."""
    versions: dict[str, str | None] = {}
    for name in packages:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def describe_host() -> dict[str, Any]:
    """The facts a benchmark's JSON carries about where it ran (load: call again after the run)."""
    text = _cpuinfo_text()
    features = host_features()
    return {
        "cpu_model": cpu_model(text), "machine": features.machine, "cpu_flags": features.sorted_flags(),
        "capabilities": sorted(features.capabilities()), "logical_cores": os.cpu_count(),
        "usable_cores": available_cores(), "cgroup_cpu_quota": cgroup_cpu_quota(), "loadavg": load_average(),
        "python": platform.python_version(), "runtimes": runtime_versions(),
    }


@functools.cache
def diagnostic_values() -> tuple[tuple[str, str], ...]:
    """The static host facts a node shows on /diagnostics (key, value), computed once."""
    features = host_features()
    quota = cgroup_cpu_quota()
    return (("host_cpu", cpu_model(_cpuinfo_text())), ("host_cpu_flags", ",".join(features.sorted_flags())),
            ("host_capabilities", ",".join(sorted(features.capabilities()))),
            ("host_cores", f"{available_cores()} usable of {os.cpu_count()}"),
            ("host_cpu_quota", "none" if quota is None else f"{quota:g}"))


# ---- what an artifact was built and checked for ------------------------------------------------
def host_record(requires: Iterable[str], features: CpuFeatures | None = None) -> dict[str, Any]:
    """The manifest's ``host`` entry: the build host's flags and the capabilities the artifact needs."""
    features = features or host_features()
    unknown = sorted(set(requires) - set(CAPABILITY_FLAGS))
    if unknown:
        raise ValueError(f"unknown capabilities {unknown}; known: {sorted(CAPABILITY_FLAGS)}")
    return {"schema": HOST_RECORD_SCHEMA, "machine": features.machine, "cpu_flags": features.sorted_flags(),
            "capabilities": sorted(features.capabilities()), "requires": sorted(set(requires))}


def missing_capabilities(record: Mapping[str, Any] | None, features: CpuFeatures | None = None) -> list[str]:
    """The capabilities ``record`` requires that this host lacks (empty: it may run here)."""
    if not record:
        return []
    features = features or host_features()
    have = features.capabilities()
    return sorted(str(c) for c in record.get("requires", ()) if str(c) not in have)


def check_host_record(record: Mapping[str, Any] | None, what: str, features: CpuFeatures | None = None) -> None:
    """Refuse an artifact built for capabilities this host lacks, naming them and their ISA flags."""
    features = features or host_features()
    missing = missing_capabilities(record, features)
    if record and str(record.get("machine", features.machine)).lower() != features.machine.lower():
        raise ManifestError(f"host.machine: {what} was built for {record.get('machine')}, this host is "
                            f"{features.machine}", fix="rebuild it on this host with 'edge-ai-ros compile'")
    if missing:
        named = "; ".join(f"{c} (one of {', '.join(CAPABILITY_FLAGS.get(c, ('?',)))})" for c in missing)
        raise ManifestError(
            f"host.requires: {what} was built and checked for CPU features this host lacks: {named}",
            fix="rebuild it on this host with 'edge-ai-ros compile' (its INT8 format and accuracy gate follow "
                "the host), or serve it on a CPU that has them")
