# ruff: noqa: F811  (pytest fixtures imported from compiler_models are redefined as parameters)
"""TensorRT: real builds where TensorRT and a GPU exist; elsewhere, the refusal, the fallback and
every step that runs without TensorRT (ONNX preparation, opset upgrade, gate engine release)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from compiler_models import classifier_onnx, detector_onnx, image_folder  # noqa: F401 - pytest fixtures

from edge_ai_ros.compiler.backend_builders import choose_builder, get_builder
from edge_ai_ros.compiler.build import BuildOptions, build_engine
from edge_ai_ros.compiler.calibrate.opset import default_opset, ensure_qdq_opset, qdq_target_opset
from edge_ai_ros.compiler.calibrate.quantize_qdq import QdqOptions, quantize_to_qdq
from edge_ai_ros.compiler.calibration_data import CalibrationConfig
from edge_ai_ros.compiler.tensorrt_options import TensorRtOptions
from edge_ai_ros.compiler.tensorrt_prepare import asymmetric_quantizers, check_symmetric_int8, write_fp16_onnx
from edge_ai_ros.engines import registry, tensorrt_runtime
from edge_ai_ros.engines.onnxruntime_backend import OnnxRuntimeEngine
from edge_ai_ros.errors import BackendUnavailableError, CompileError, ConfigError

USABLE, TRT_REASON = tensorrt_runtime.tensorrt_usable()
needs_trt = pytest.mark.skipif(not USABLE, reason=f"TensorRT cannot run here: {TRT_REASON}")


@pytest.mark.skipif(USABLE, reason="TensorRT runs here; the refusal path does not apply")
def test_without_tensorrt_the_backend_is_refused_with_the_reason(classifier_onnx: Path, tmp_path: Path) -> None:
    with pytest.raises(BackendUnavailableError, match="TensorRT"):
        build_engine(BuildOptions(onnx_path=str(classifier_onnx), precision="fp32", backend="tensorrt",
                                  cache_dir=str(tmp_path / "cache")))


def test_installed_but_unusable_tensorrt_falls_back_to_a_cpu_backend(monkeypatch: pytest.MonkeyPatch) -> None:
    """The wheel alone is not enough: without a GPU, auto picks OpenVINO / ONNX Runtime (serving and build)."""
    monkeypatch.setattr(tensorrt_runtime, "tensorrt_usable", lambda: (False, "no CUDA GPU is visible"))
    monkeypatch.setattr(registry, "_installed", lambda name: True)
    assert "tensorrt" not in registry.available_backends()
    with pytest.raises(BackendUnavailableError, match="no CUDA GPU"):
        get_builder("tensorrt")
    assert choose_builder("auto", "int8").name in ("openvino", "onnxruntime")


def test_profile_options_are_validated() -> None:
    with pytest.raises(ConfigError, match="tensorrt.batch"):
        TensorRtOptions(min_batch=4, opt_batch=2, max_batch=8)
    with pytest.raises(ConfigError, match="tensorrt.hw"):
        TensorRtOptions(min_hw=(32, 32))
    assert TensorRtOptions(min_hw=(8, 8), opt_hw=(16, 16), max_hw=(32, 32)).ranges().hw == ((8, 8), (16, 16), (32, 32))
    assert TensorRtOptions().key_facts() != TensorRtOptions(allow_tf32=True).key_facts()


def _torch_classifier(path: Path, opset: int) -> Path:
    torch = pytest.importorskip("torch")

    class Net(torch.nn.Module):  # type: ignore[misc,name-defined]
        def __init__(self) -> None:
            super().__init__()
            self.conv = torch.nn.Conv2d(3, 8, 3, padding=1)
            self.norm = torch.nn.BatchNorm2d(8)
            self.fc = torch.nn.Linear(8, 4)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.fc(torch.relu(self.norm(self.conv(x))).mean((2, 3)))

    torch.manual_seed(0)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.onnx.export(Net().eval(), torch.zeros(1, 3, 32, 32), str(path), opset_version=opset, dynamo=False,
                      input_names=["images"], output_names=["logits"])
    assert default_opset(onnx.load(str(path))) == opset
    return path


def test_models_older_than_opset_13_are_upgraded_before_quantizing(tmp_path: Path) -> None:
    assert qdq_target_opset(11) == 13 and qdq_target_opset(12) == 13 and qdq_target_opset(13) is None
    model = _torch_classifier(tmp_path / "m11.onnx", 11)
    upgraded = ensure_qdq_opset(model, tmp_path / "work")
    assert upgraded != model and default_opset(onnx.load(str(upgraded))) == 13
    assert ensure_qdq_opset(upgraded, tmp_path / "work2") == upgraded  # 13 is left alone


@pytest.mark.parametrize("backend", ["onnxruntime", "openvino"])
@pytest.mark.parametrize("opset", [11, 12])
def test_opset_11_and_12_models_compile_int8(tmp_path: Path, image_folder: Path, backend: str, opset: int) -> None:
    model = _torch_classifier(tmp_path / f"net{opset}.onnx", opset)
    result = build_engine(BuildOptions(onnx_path=str(model), precision="int8", backend=backend,
                                       calibration=CalibrationConfig(source=str(image_folder)),
                                       cache_dir=str(tmp_path / "cache"), max_drop=100.0))
    assert result.manifest.precision == "int8" and result.manifest.accuracy is not None
    if backend == "onnxruntime":
        built = onnx.load(str(result.engine_path))
        onnx.checker.check_model(built)
        assert default_opset(built) >= 13 and any(n.op_type == "DequantizeLinear" for n in built.graph.node)


def _qdq(model: Path, out: Path, flavour: str) -> Path:
    tensors = [np.random.default_rng(i).random((1, 3, 32, 32), dtype=np.float32) for i in range(4)]
    return quantize_to_qdq(model, out, "images", tensors, QdqOptions(flavour=flavour))


def test_asymmetric_u8_qat_models_are_refused_before_tensorrt_parses_them(classifier_onnx: Path,
                                                                           tmp_path: Path) -> None:
    u8 = _qdq(classifier_onnx, tmp_path / "u8.onnx", "cpu_u8s8")
    assert asymmetric_quantizers(onnx.load(str(u8)))
    with pytest.raises(CompileError, match="asymmetrically"):
        check_symmetric_int8(u8)
    s8 = _qdq(classifier_onnx, tmp_path / "s8.onnx", "tensorrt_s8s8")
    assert asymmetric_quantizers(onnx.load(str(s8))) == []
    check_symmetric_int8(s8)


def test_fp16_onnx_for_strongly_typed_networks_keeps_fp32_io_and_the_results(detector_onnx: Path,
                                                                              tmp_path: Path) -> None:
    import onnxruntime as ort

    fp16 = write_fp16_onnx(detector_onnx, tmp_path / "work" / "detector.fp16.onnx")
    model = onnx.load(str(fp16))
    onnx.checker.check_model(model)
    assert model.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    assert {t.data_type for t in model.graph.initializer if t.data_type in (1, 10)} == {onnx.TensorProto.FLOAT16}
    frame = {"images": np.random.default_rng(0).random((1, 3, 32, 32), dtype=np.float32)}
    want = ort.InferenceSession(str(detector_onnx)).run(None, frame)[0]
    got = ort.InferenceSession(str(fp16)).run(None, frame)[0]
    assert got.dtype == np.float32 and np.allclose(got, want, rtol=2e-2, atol=5e-2)


def test_the_accuracy_gate_closes_the_engines_it_opened(classifier_onnx: Path, image_folder: Path, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    closed: list[str] = []
    original = OnnxRuntimeEngine.close

    def close(engine: OnnxRuntimeEngine) -> None:
        closed.append(engine.info.details.get("backend_choice", ""))
        original(engine)

    monkeypatch.setattr(OnnxRuntimeEngine, "close", close)
    build_engine(BuildOptions(onnx_path=str(classifier_onnx), precision="int8", backend="onnxruntime",
                              calibration=CalibrationConfig(source=str(image_folder)), cache_dir=str(tmp_path / "c")))
    assert closed.count("accuracy gate") == 2  # the FP32 reference and the candidate


def _trt_options(classifier: Path, tmp_path: Path, precision: str, image_folder: Path, **trt: object) -> BuildOptions:
    return BuildOptions(onnx_path=str(classifier), precision=precision, backend="tensorrt",
                        calibration=CalibrationConfig(source=str(image_folder)), cache_dir=str(tmp_path / "cache"),
                        max_drop=5.0, tensorrt=TensorRtOptions(**trt))  # type: ignore[arg-type]


@needs_trt
@pytest.mark.parametrize("precision", ["fp32", "fp16", "int8"])
def test_tensorrt_builds_runs_and_reuses_the_timing_cache(
    classifier_onnx: Path, image_folder: Path, tmp_path: Path, precision: str,
) -> None:
    options = _trt_options(classifier_onnx, tmp_path, precision, image_folder)
    result = build_engine(options)
    assert result.manifest.artifact.format == "tensorrt_plan" and result.manifest.device.startswith("cuda:")
    cache = tmp_path / "cache" / "tensorrt.timing.cache"
    first = cache.stat().st_size
    assert first > 0
    if precision == "int8":
        assert result.manifest.calibration is not None and result.manifest.calibration["flavour"] == "tensorrt_s8s8"
    assert build_engine(options).cache_hit
    rebuilt = build_engine(_trt_options(classifier_onnx, tmp_path, precision, image_folder, workspace_mib=512))
    assert not rebuilt.cache_hit and cache.stat().st_size >= first  # a real rebuild, with the cache loaded


@needs_trt
def test_fixed_batch_model_builds_with_the_default_options(detector_onnx: Path, image_folder: Path,
                                                            tmp_path: Path) -> None:
    result = build_engine(_trt_options(detector_onnx, tmp_path, "fp32", image_folder))  # batch fixed at 1
    assert result.manifest.build["key_inputs"]["shape_profiles"]["images"][2] == [1, 3, 32, 32]


@needs_trt
def test_version_and_hardware_compatible_plans_build_load_and_key_on_the_family(
    classifier_onnx: Path, image_folder: Path, tmp_path: Path,
) -> None:
    from edge_ai_ros.engines.registry import load_engine

    result = build_engine(_trt_options(classifier_onnx, tmp_path, "fp16", image_folder, version_compatible=True,
                                       hardware_compatible=True))
    assert "version compatible" in result.manifest.backend_version and "ampere+" in result.manifest.device
    engine = load_engine(result.engine_path, backend="tensorrt")
    try:
        out = engine.infer({"images": np.zeros((2, 3, 32, 32), np.float32)})
    finally:
        engine.close()
    assert out["logits"].shape == (2, 10)


@needs_trt
def test_parser_errors_name_the_node(tmp_path: Path) -> None:
    from onnx import TensorProto, helper

    node = helper.make_node("Frobnicate", ["images"], ["out"], name="weird", domain="com.example")
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, 8, 8])],
                              [helper.make_tensor_value_info("out", TensorProto.FLOAT, [1, 3, 8, 8])])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("com.example", 1)]),
              str(tmp_path / "m.onnx"))
    with pytest.raises(CompileError, match="weird"):
        build_engine(BuildOptions(onnx_path=str(tmp_path / "m.onnx"), precision="fp32", backend="tensorrt",
                                  cache_dir=str(tmp_path / "cache")))


def test_a_version_compatible_plan_is_loaded_with_host_code_allowed_from_its_manifest(tmp_path: Path) -> None:
    import dataclasses

    from edge_ai_ros.engines.tensorrt_backend import build_flags_of
    from edge_ai_ros.engines.tensorrt_policy import runtime_allows_host_code
    from edge_ai_ros.manifest import load_manifest, manifest_path_for, save_manifest

    demo = Path(registry.__file__).resolve().parents[1] / "assets" / "demo_detector" / "detector.onnx.manifest.json"
    plan = tmp_path / "model.plan"
    assert build_flags_of(plan) == {}  # no manifest: nothing is allowed
    for compatible in (True, False):
        manifest = dataclasses.replace(load_manifest(demo), build={"flags": {"version_compatible": compatible}})
        save_manifest(manifest, manifest_path_for(plan))
        assert runtime_allows_host_code(build_flags_of(plan)) is compatible
