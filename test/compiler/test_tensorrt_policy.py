"""TensorRT decisions tested without TensorRT: flags per version, profiles, DLA, compatibility, shapes.

The flags each plan names are checked against the BuilderFlag members of both stub sets: the
tensorrt-stubs 10.x package and the stubs generated from the real TensorRT 11 bindings.
"""

from __future__ import annotations

import ast
import sys
import threading
from pathlib import Path

import pytest

from edge_ai_ros.engines.cuda_memory import ThreadDevice
from edge_ai_ros.engines.tensorrt_policy import (
    ProfileRange,
    check_dla,
    check_hardware_compatible,
    concrete_shape,
    key_device,
    key_version,
    precision_plan,
    profile_shapes,
    runtime_allows_host_code,
)
from edge_ai_ros.engines.tensorrt_runtime import probe_verdict
from edge_ai_ros.errors import ConfigError, EngineError

STUBS = {10: Path(sys.prefix) / "typestubs", 11: Path(sys.prefix) / "typestubs-trt11"}


def builder_flag_members(version: int, enum: str = "BuilderFlag") -> set[str]:
    path = STUBS[version] / "tensorrt_bindings" / "tensorrt.pyi"
    if not path.is_file():
        pytest.skip(f"no TensorRT {version} stubs at {path} (make setup generates them)")
    tree = ast.parse(path.read_text(encoding="utf-8"))
    flag_class = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == enum)
    return {n.target.id for n in flag_class.body if isinstance(n, ast.AnnAssign) and isinstance(n.target, ast.Name)}


@pytest.mark.parametrize("version", [10, 11])
@pytest.mark.parametrize("precision", ["fp32", "fp16", "int8"])
def test_every_flag_a_plan_names_exists_in_that_tensorrt_version(version: int, precision: str) -> None:
    members = builder_flag_members(version)
    plan = precision_plan(precision, version)
    assert set(plan.set_flags) | set(plan.clear_flags) <= members
    assert set(plan.network_flags) <= builder_flag_members(version, "NetworkDefinitionCreationFlag")


def test_tensorrt_11_has_no_weak_typing_flags_so_fp16_is_a_strongly_typed_fp16_network() -> None:
    assert not {"FP16", "INT8", "BF16"} & builder_flag_members(11)
    plan = precision_plan("fp16", 11)
    assert plan.strongly_typed and plan.fp16_onnx and "FP16" not in plan.set_flags
    assert precision_plan("fp16", 10).set_flags == ("FP16",) and not precision_plan("fp16", 10).fp16_onnx


def test_int8_is_strongly_typed_on_both_versions_and_fp32_is_weakly_typed_only_on_10() -> None:
    assert precision_plan("int8", 10).strongly_typed and precision_plan("int8", 11).strongly_typed
    assert precision_plan("int8", 10).network_flags == ("STRONGLY_TYPED",)
    assert precision_plan("int8", 11).network_flags == ()  # deprecated there: every network is strongly typed
    assert not precision_plan("fp32", 10).strongly_typed and precision_plan("fp32", 11).strongly_typed
    with pytest.raises(ConfigError, match="bf16"):
        precision_plan("bf16", 10)


def test_fp32_clears_tf32_unless_allowed() -> None:
    for version in (10, 11):
        assert precision_plan("fp32", version).clear_flags == ("TF32",)
        assert precision_plan("fp32", version, allow_tf32=True).clear_flags == ()
    assert precision_plan("fp32", 10).key_facts() != precision_plan("fp32", 10, allow_tf32=True).key_facts()


def test_fixed_batch_gets_min_opt_max_equal() -> None:
    low, opt, high = profile_shapes("images", (1, 3, 64, 64), ProfileRange(batch=(1, 1, 8)))
    assert low == opt == high == (1, 3, 64, 64)
    assert profile_shapes("images", (4, 3, 8, 8), ProfileRange())[2] == (4, 3, 8, 8)


def test_dynamic_batch_and_resolution_take_the_options_ranges() -> None:
    ranges = ProfileRange(batch=(1, 2, 8), hw=((32, 32), (64, 48), (128, 96)))
    assert profile_shapes("x", ("batch", 3, "h", "w"), ranges) == ((1, 3, 32, 32), (2, 3, 64, 48), (8, 3, 128, 96))
    assert profile_shapes("x", ("batch", 3, 16, 16), ranges) == ((1, 3, 16, 16), (2, 3, 16, 16), (8, 3, 16, 16))
    with pytest.raises(ConfigError, match="min/opt/max height and width"):
        profile_shapes("x", (1, 3, "h", "w"), ProfileRange())


def test_dla_is_refused_where_it_would_not_run() -> None:
    static = {"images": ((1, 3, 8, 8), (1, 3, 8, 8), (1, 3, 8, 8))}
    dynamic = {"images": ((1, 3, 8, 8), (1, 3, 8, 8), (8, 3, 8, 8))}
    check_dla(-1, precision="fp32", version="11.0.0", profiles=dynamic, cores_present=0)  # GPU: nothing to check
    check_dla(0, precision="fp16", version="10.13.0", profiles=static, cores_present=2)
    with pytest.raises(ConfigError, match="does not support DLA"):
        check_dla(0, precision="fp16", version="11.1.0.5", profiles=static, cores_present=2)
    with pytest.raises(ConfigError, match="DLA runs"):
        check_dla(0, precision="fp32", version="10.13.0", profiles=static, cores_present=2)
    with pytest.raises(ConfigError, match="static shapes"):
        check_dla(0, precision="int8", version="11.4.0", profiles=dynamic, cores_present=2)
    with pytest.raises(ConfigError, match="2 present"):
        check_dla(2, precision="int8", version="11.4.0", profiles=static, cores_present=2)


def test_compatible_engines_key_on_the_family_not_this_gpu_and_release() -> None:
    device = "cuda:NVIDIA A10 (sm_86)"
    assert key_device(device, hardware_compatible=False) == device
    assert key_device(device, hardware_compatible=True) == key_device("cuda:NVIDIA L4 (sm_89)", hardware_compatible=True)
    assert key_version("10.13.0.35", version_compatible=False) == "10.13.0.35"
    assert key_version("10.13.0.35", version_compatible=True) == key_version("10.8.0.43", version_compatible=True)
    assert key_version("11.4.0", version_compatible=True) != key_version("10.8.0", version_compatible=True)
    with pytest.raises(ConfigError, match="integrated GPUs"):
        check_hardware_compatible(True, integrated_gpu=True)
    check_hardware_compatible(True, integrated_gpu=False)


def test_version_compatible_plans_get_a_runtime_that_may_run_their_lean_runtime() -> None:
    assert runtime_allows_host_code({"version_compatible": True})
    assert not runtime_allows_host_code({"version_compatible": False})
    assert not runtime_allows_host_code({})


def test_data_dependent_output_shapes_are_refused_with_the_reason() -> None:
    assert concrete_shape("boxes", [1, 64, 8]) == (1, 64, 8)
    with pytest.raises(EngineError, match="data-dependent shape"):
        concrete_shape("boxes", [1, -1, 4])


def test_probe_verdict_names_what_is_missing() -> None:
    assert probe_verdict(trt_error="TensorRT is not installed", cuda_error="", device_count=0) == (
        False, "TensorRT is not installed")
    usable, reason = probe_verdict(trt_error="", cuda_error="cuda-python is not installed", device_count=0)
    assert not usable and "cuda-python" in reason
    usable, reason = probe_verdict(trt_error="", cuda_error="", device_count=0)
    assert not usable and "no CUDA GPU" in reason
    assert probe_verdict(trt_error="", cuda_error="", device_count=2)[0]


def test_the_device_is_made_current_once_in_every_thread_that_runs() -> None:
    calls: list[tuple[str, int]] = []
    device = ThreadDevice(1, lambda index: calls.append((threading.current_thread().name, index)))
    device.ensure()
    device.ensure()
    worker = threading.Thread(target=lambda: (device.ensure(), device.ensure()), name="worker")
    worker.start()
    worker.join(timeout=10)
    assert calls == [(threading.current_thread().name, 1), ("worker", 1)]


def test_builder_and_engine_share_the_runtime_module_and_the_engine_needs_no_compiler() -> None:
    """No import cycle: the engine side imports nothing from the compiler; the builder opens the
    engine it built (for the accuracy gate) one way, like every other builder."""
    root = Path(__file__).resolve().parents[2] / "edge_ai_ros"

    def imported(path: Path) -> set[str]:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        return {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}

    build = imported(root / "compiler" / "tensorrt_build.py")
    backend = imported(root / "engines" / "tensorrt_backend.py")
    engine_side = backend | imported(root / "engines" / "tensorrt_runtime.py") | imported(
        root / "engines" / "tensorrt_policy.py") | imported(root / "engines" / "cuda_memory.py")
    assert not {m for m in engine_side if m.startswith("edge_ai_ros.compiler")}
    assert "edge_ai_ros.engines.tensorrt_runtime" in build & backend
