"""Host features: read from this host's /proc/cpuinfo, quota files, and package metadata."""

from __future__ import annotations

import os
import platform
import re
import subprocess
import sys
from pathlib import Path

import pytest

from edge_ai_ros.errors import ManifestError
from edge_ai_ros.host import (
    CAPABILITY_FLAGS,
    KERNEL_FLAGS,
    CpuFeatures,
    cgroup_cpu_quota,
    check_host_record,
    describe_host,
    host_features,
    host_record,
    missing_capabilities,
    parse_cpu_features,
    runtime_versions,
)
from edge_ai_ros.int8_format import int8_format_for, required_capabilities

CPUINFO = Path("/proc/cpuinfo")


def _cpuinfo_flags() -> set[str]:
    """The first flags/Features line of /proc/cpuinfo, read independently of the module."""
    match = re.search(r"^(?:flags|Features)\s*:(.*)$", CPUINFO.read_text(), re.MULTILINE)
    return set(match.group(1).split()) if match else set()


@pytest.mark.skipif(not CPUINFO.is_file(), reason="no /proc/cpuinfo on this OS")
def test_features_match_proc_cpuinfo() -> None:
    flags = _cpuinfo_flags()
    features = host_features()
    assert features.machine == platform.machine()
    assert features.flags == flags & set(KERNEL_FLAGS)
    for flag in ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "avx512_bf16", "amx_tile", "asimddp", "sve"):
        assert features.has(flag) == (flag in flags), flag
    vnni_like = {"avx512_vnni", "avx_vnni", "amx_int8", "asimddp"}
    assert features.int8_dot == bool(flags & vnni_like)
    assert features.sorted_flags() == [f for f in KERNEL_FLAGS if f in flags]


def test_arm_features_and_capabilities_from_a_cpuinfo_text() -> None:
    text = "processor\t: 0\nFeatures\t: fp asimd evtstrm aes crc32 atomics fphp asimdhp asimddp sve i8mm bf16\n"
    features = parse_cpu_features(text, "aarch64")
    assert not features.is_x86 and features.has("sve") and features.has("asimddp")
    assert features.capabilities() == {"int8_dot", "bf16", "fp16"}
    assert int8_format_for("cpu", features).weight_qmax == 127  # NEON widens: no int16 saturation


@pytest.mark.parametrize(("flags", "qmax", "requires"), [
    ({"avx2"}, 64, ()),  # Zen 2/3, Haswell..Skylake client: vpmaddubsw saturates, 7-bit weights
    ({"avx2", "avx512f"}, 64, ()),  # Skylake-SP without VNNI
    ({"avx2", "avx_vnni"}, 127, ("int8_dot",)),  # Alder Lake and later clients
    ({"avx2", "avx512f", "avx512_vnni"}, 127, ("int8_dot",)),  # Cascade Lake, Zen 4/5
    ({"avx2", "avx512f", "avx512_vnni", "amx_tile", "amx_int8"}, 127, ("int8_dot",)),  # Sapphire Rapids
])
def test_int8_format_per_feature_set(flags: set[str], qmax: int, requires: tuple[str, ...]) -> None:
    features = CpuFeatures(machine="x86_64", flags=frozenset(flags))
    fmt = int8_format_for("onnxruntime", features)
    assert (fmt.activation, fmt.weight_qmax, fmt.reduce_range) == ("u8", qmax, qmax == 64)
    assert required_capabilities(fmt, features) == requires
    trt = int8_format_for("tensorrt", features)
    assert (trt.activation, trt.weight_qmax) == ("s8", 127)


def test_cgroup_v2_and_v1_quota_files(tmp_path: Path) -> None:
    (tmp_path / "v2" / "job").mkdir(parents=True)
    (tmp_path / "v2" / "job" / "cpu.max").write_text("150000 100000\n")
    (tmp_path / "v2.cgroup").write_text("0::/job\n")
    assert cgroup_cpu_quota(tmp_path / "v2", tmp_path / "v2.cgroup") == 1.5
    (tmp_path / "v2" / "job" / "cpu.max").write_text("max 100000\n")
    assert cgroup_cpu_quota(tmp_path / "v2", tmp_path / "v2.cgroup") is None
    (tmp_path / "v1" / "cpu" / "box").mkdir(parents=True)
    (tmp_path / "v1" / "cpu" / "box" / "cpu.cfs_quota_us").write_text("200000\n")
    (tmp_path / "v1" / "cpu" / "box" / "cpu.cfs_period_us").write_text("100000\n")
    (tmp_path / "v1.cgroup").write_text("4:memory:/box\n1:cpu,cpuacct:/box\n0::/\n")
    assert cgroup_cpu_quota(tmp_path / "v1", tmp_path / "v1.cgroup") == 2.0


def test_describe_host_has_the_benchmark_facts_without_importing_runtimes() -> None:
    facts = describe_host()
    assert facts["logical_cores"] == os.cpu_count() and facts["usable_cores"] >= 1
    assert facts["cpu_flags"] == host_features().sorted_flags() and facts["cpu_model"]
    assert len(facts["loadavg"]) == 3
    import onnxruntime

    assert runtime_versions(["onnxruntime", "no-such-package-xyz"]) == {
        "onnxruntime": onnxruntime.__version__, "no-such-package-xyz": None}
    code = ("import sys, edge_ai_ros.host as h; h.describe_host(); "
            "print(sorted(m for m in ('torch', 'onnxruntime', 'openvino', 'tensorrt') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parents[1])
    assert out.stdout.strip() == "[]"


def test_a_record_needing_what_this_host_lacks_is_refused_by_name() -> None:
    features = host_features()
    record = host_record(sorted(features.capabilities()), features)
    check_host_record(record, "this host's own build")  # what it has passes
    lacking = sorted(set(CAPABILITY_FLAGS) - features.capabilities())
    if not lacking:
        pytest.skip("this host has every capability")
    record["requires"] = lacking
    assert missing_capabilities(record, features) == lacking
    with pytest.raises(ManifestError, match=f"host.requires: .*{lacking[0]} \\(one of {CAPABILITY_FLAGS[lacking[0]][0]}"):
        check_host_record(record, "a model")
    with pytest.raises(ManifestError, match="host.machine"):
        check_host_record(record | {"machine": "riscv64", "requires": []}, "a model")
