# ruff: noqa: F811  (pytest fixtures imported from compiler_models are redefined as parameters)
"""TensorRT: real builds where TensorRT and a GPU exist; elsewhere, the refusal is checked."""

from __future__ import annotations

from pathlib import Path

import pytest
from compiler_models import classifier_onnx, image_folder  # noqa: F401 - pytest fixtures

from edge_ai_ros.compiler.build import BuildOptions, build_engine
from edge_ai_ros.compiler.calibration_data import CalibrationConfig
from edge_ai_ros.compiler.tensorrt_build import import_tensorrt
from edge_ai_ros.compiler.tensorrt_options import TensorRtOptions
from edge_ai_ros.errors import BackendUnavailableError, ConfigError

try:
    import_tensorrt()
    TRT_REASON = ""
except BackendUnavailableError as err:
    TRT_REASON = f"TensorRT runtime not importable here: {err}"
needs_trt = pytest.mark.skipif(bool(TRT_REASON), reason=TRT_REASON or "n/a")


@pytest.mark.skipif(not TRT_REASON, reason="TensorRT is installed; the refusal path does not apply")
def test_without_tensorrt_the_backend_is_refused_with_the_reason(classifier_onnx: Path, tmp_path: Path) -> None:
    with pytest.raises(BackendUnavailableError, match="TensorRT"):
        build_engine(BuildOptions(onnx_path=str(classifier_onnx), precision="fp32", backend="tensorrt",
                                  cache_dir=str(tmp_path / "cache")))


def test_profile_options_are_validated() -> None:
    with pytest.raises(ConfigError, match="tensorrt.batch"):
        TensorRtOptions(min_batch=4, opt_batch=2, max_batch=8)
    with pytest.raises(ConfigError, match="tensorrt.hw"):
        TensorRtOptions(min_hw=(32, 32))


@needs_trt
@pytest.mark.parametrize("precision", ["fp32", "fp16", "int8"])
def test_tensorrt_builds_runs_and_reuses_the_timing_cache(
    classifier_onnx: Path, image_folder: Path, tmp_path: Path, precision: str,
) -> None:
    options = BuildOptions(onnx_path=str(classifier_onnx), precision=precision, backend="tensorrt",
                           calibration=CalibrationConfig(source=str(image_folder)), cache_dir=str(tmp_path / "cache"),
                           max_drop=5.0)
    result = build_engine(options)
    assert result.manifest.artifact.format == "tensorrt_plan" and result.manifest.device.startswith("cuda:")
    assert (tmp_path / "cache" / "tensorrt.timing.cache").stat().st_size > 0
    if precision == "int8":
        assert result.manifest.calibration is not None and result.manifest.calibration["flavour"] == "tensorrt_s8s8"
    assert build_engine(options).cache_hit


@needs_trt
def test_parser_errors_name_the_node(tmp_path: Path) -> None:
    import onnx
    from onnx import TensorProto, helper

    from edge_ai_ros.errors import CompileError

    node = helper.make_node("Frobnicate", ["images"], ["out"], name="weird", domain="com.example")
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, 8, 8])],
                              [helper.make_tensor_value_info("out", TensorProto.FLOAT, [1, 3, 8, 8])])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("com.example", 1)]),
              str(tmp_path / "m.onnx"))
    with pytest.raises(CompileError, match="weird"):
        build_engine(BuildOptions(onnx_path=str(tmp_path / "m.onnx"), precision="fp32", backend="tensorrt",
                                  cache_dir=str(tmp_path / "cache")))
