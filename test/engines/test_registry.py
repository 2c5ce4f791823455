"""Registry: what is available, how auto chooses and says why, lazy imports, option checks."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from tiny_models import detector_manifest, identity_conv, write_manifest

from edge_ai_ros.engines.options import EngineOptions
from edge_ai_ros.engines.registry import (
    BackendChoice,
    available_backends,
    choose_backend,
    choose_backend_for_format,
    load_engine,
)
from edge_ai_ros.errors import BackendUnavailableError, ConfigError, EngineError
from edge_ai_ros.host import cpu_device_string, cpu_flags, device_string
from edge_ai_ros.manifest import DecoderSpec, PreprocessSpec, load_manifest

REPO = Path(__file__).resolve().parents[2]


def test_importing_engines_loads_no_runtime() -> None:
    code = (
        "import sys, edge_ai_ros.engines, edge_ai_ros.engines.registry, edge_ai_ros.pipeline;"
        "from edge_ai_ros.engines import available_backends; available_backends();"
        "import json; print(json.dumps([m for m in ('onnxruntime', 'openvino', 'tensorrt', 'torch')"
        " if m in sys.modules]))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=REPO, timeout=60)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []


def test_available_backends_are_importable_runtimes() -> None:
    names = available_backends()
    assert set(names) <= {"tensorrt", "openvino", "onnxruntime"}
    for name in names:
        __import__(name)


BOTH = ["openvino", "onnxruntime"]


@pytest.mark.parametrize(
    ("fmt", "precision", "available", "built_for", "backend", "fallbacks", "reason"),
    [
        ("onnx", "fp32", BOTH, "any", "onnxruntime", ("openvino",), "first in the fixed CPU order for fp32"),
        ("onnx", "int8", BOTH, "any", "openvino", ("onnxruntime",), "first in the fixed CPU order for int8"),
        ("onnx", "bf16", ["onnxruntime"], "any", "onnxruntime", (), "first in the fixed CPU order"),
        ("onnx", "int8", BOTH, "onnxruntime", "onnxruntime", ("openvino",), "built for onnxruntime"),
        ("onnx", "fp32", ["onnxruntime"], "openvino", "onnxruntime", (), "openvino, which the artifact was built for, is not"),
        ("openvino_ir", "fp32", BOTH, "any", "openvino", (), "the only reader of openvino_ir"),
        ("tensorrt_plan", "int8", ["tensorrt", "openvino"], "tensorrt", "tensorrt", (), "built for tensorrt"),
    ],
)
def test_choice_and_reason(fmt: str, precision: str, available: list[str], built_for: str, backend: str,
                           fallbacks: tuple[str, ...], reason: str) -> None:
    choice = choose_backend_for_format(fmt, available, built_for=built_for, precision=precision)
    assert (choice.backend, choice.fallbacks) == (backend, fallbacks)
    assert reason in choice.reason


def test_tensorrt_plan_requires_tensorrt() -> None:
    with pytest.raises(BackendUnavailableError, match="tensorrt_plan artifacts need tensorrt"):
        choose_backend_for_format("tensorrt_plan", ["openvino", "onnxruntime"])


def test_safetensors_is_not_served_by_the_registry() -> None:
    with pytest.raises(EngineError, match="no backend loads 'torch_safetensors'.*TorchEngine"):
        choose_backend_for_format("torch_safetensors", ["onnxruntime"])


def test_choose_backend_reads_the_manifest(tmp_path: Path) -> None:
    manifest = load_manifest(detector_manifest(tmp_path))
    assert choose_backend(manifest, ["onnxruntime"]) == BackendChoice(
        backend="onnxruntime", reason="onnxruntime is first in the fixed CPU order for fp32 (registry.CPU_PREFERENCE)")


def test_auto_load_records_the_reason(tmp_path: Path) -> None:
    engine = load_engine(identity_conv(tmp_path / "m.onnx"), options=EngineOptions(threads=1, auto_select="table"))
    expected = next(b for b in ("onnxruntime", "openvino") if b in available_backends())  # fp32 order
    assert engine.info.backend == expected
    assert "first in the fixed CPU order for fp32" in engine.info.details["backend_choice"]
    engine.close()


def test_auto_falls_back_when_the_first_backend_fails(tmp_path: Path) -> None:
    # An int8 manifest prefers OpenVINO, which has no ai.onnx.ml Binarizer; ONNX Runtime runs it.
    if not {"openvino", "onnxruntime"} <= set(available_backends()):
        pytest.skip("needs both CPU backends")
    from onnx import TensorProto, helper, save

    graph = helper.make_graph(
        [helper.make_node("Binarizer", ["x"], ["y"], domain="ai.onnx.ml", threshold=0.5)], "ml",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("ai.onnx.ml", 3)])
    model.ir_version = 8
    save(model, tmp_path / "ml.onnx")
    manifest_path = write_manifest(tmp_path / "ml.onnx", task="classification", labels=("a",) * 4,
                                   decoder=DecoderSpec(kind="classification"), preprocess=PreprocessSpec(width=2, height=2))
    manifest = load_manifest(manifest_path).with_updates(precision="int8")
    engine = load_engine(tmp_path / "ml.onnx", manifest=manifest, options=EngineOptions(auto_select="table"))
    assert engine.info.backend == "onnxruntime"
    assert engine.info.details["backend_choice"].startswith("onnxruntime is the fallback: openvino failed")
    engine.close()


@pytest.mark.parametrize(
    ("kwargs", "exc", "pattern"),
    [({"backend": "tflite"}, ConfigError, "backend: 'tflite' is unknown"),
     ({"backend": "onnxruntime", "artifact": "m.xml"}, ConfigError, "onnxruntime cannot read openvino_ir"),
     ({"artifact": "m.tflite"}, ConfigError, "artifact_path: cannot tell the format")],
)
def test_bad_load_requests(tmp_path: Path, kwargs: dict[str, str], exc: type[Exception], pattern: str) -> None:
    path = tmp_path / kwargs.pop("artifact", "m.onnx")
    identity_conv(path)
    with pytest.raises(exc, match=pattern):
        load_engine(path, **kwargs)


@pytest.mark.parametrize(
    ("kwargs", "pattern"),
    [({"threads": -1}, "threads: is -1"), ({"precision_hint": "int4"}, "precision_hint: 'int4'"),
     ({"device": "tpu"}, "device: 'tpu'")],
)
def test_engine_options_are_validated(kwargs: dict[str, object], pattern: str) -> None:
    with pytest.raises(ConfigError, match=pattern):
        EngineOptions(**kwargs)  # type: ignore[arg-type]


def test_precision_hint_follows_the_manifest() -> None:
    options = EngineOptions()
    assert [options.precision_hint_for(p) for p in ("fp32", "int8", "bf16", "fp16")] == ["f32", "f32", "bf16", "f16"]
    assert EngineOptions(precision_hint="bf16").precision_hint_for("fp32") == "bf16"
    assert EngineOptions().resolved_threads() >= 1


def test_device_string_from_cpuinfo() -> None:
    flags = cpu_flags("processor : 0\nflags : fpu sse avx2 avx512f amx_int8 avx512_vnni\n")
    assert device_string("x86_64", flags) == "cpu:x86_64:avx2,avx512f,avx512_vnni,amx_int8"
    assert device_string("aarch64", cpu_flags("Features : fp asimd asimddp\n")) == "cpu:aarch64:asimd,asimddp"
    assert device_string("riscv64", frozenset()) == "cpu:riscv64"
    assert cpu_device_string().startswith("cpu:")
