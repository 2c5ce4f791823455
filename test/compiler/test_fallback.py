"""``--backend auto`` falls back to the next backend when one cannot build the model; errors read as one line."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from edge_ai_ros.cli.main import main
from edge_ai_ros.compiler.build import BuildOptions
from edge_ai_ros.compiler.fallback import auto_candidates, build_with_fallback
from edge_ai_ros.errors import CompileError, ManifestError, one_line
from edge_ai_ros.manifest import load_manifest

needs_both = pytest.mark.skipif(
    not (importlib.util.find_spec("openvino") and importlib.util.find_spec("onnxruntime")),
    reason="needs OpenVINO and ONNX Runtime")


def _model_openvino_rejects(path: Path) -> Path:
    """A tiny classifier with ONNX Runtime's contrib ``com.microsoft.Inverse`` (OpenVINO has no such operator)."""
    nodes = [helper.make_node("GlobalAveragePool", ["images"], ["p"]),
             helper.make_node("Flatten", ["p"], ["f"]),
             helper.make_node("MatMul", ["f", "w"], ["m"]),
             helper.make_node("Reshape", ["m", "shape"], ["square"]),
             helper.make_node("Inverse", ["square"], ["inv"], domain="com.microsoft"),
             helper.make_node("Reshape", ["inv", "flat"], ["logits"])]
    inits = [numpy_helper.from_array(np.eye(3, 4, dtype=np.float32) + 0.5, "w"),
             numpy_helper.from_array(np.asarray([1, 2, 2], np.int64), "shape"),
             numpy_helper.from_array(np.asarray([1, 4], np.int64), "flat")]
    graph = helper.make_graph(nodes, "inverse", [helper.make_tensor_value_info("images", TensorProto.FLOAT,
                                                                               [1, 3, 8, 8])],
                              [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, 4])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17),
                                                    helper.make_opsetid("com.microsoft", 1)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


@needs_both
def test_auto_falls_back_when_openvino_rejects_the_model_and_the_manifest_says_so(tmp_path: Path) -> None:
    assert auto_candidates(BuildOptions(onnx_path="x", precision="fp32"))[-2:] == ["openvino", "onnxruntime"]
    model = _model_openvino_rejects(tmp_path / "inverse.onnx")
    result = build_with_fallback(BuildOptions(onnx_path=str(model), precision="fp32", backend="auto",
                                              cache_dir=str(tmp_path / "cache")))
    fallback = load_manifest(result.manifest_path).build["fallback"]
    assert result.manifest.backend == "onnxruntime" and fallback["used"] == "onnxruntime"
    assert [s["backend"] for s in fallback["skipped"]] == ["openvino"]
    assert "openvino cannot" in fallback["skipped"][0]["reason"] and "\n" not in fallback["skipped"][0]["reason"]


@needs_both
def test_a_named_backend_never_falls_back(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    model = _model_openvino_rejects(tmp_path / "inverse.onnx")
    with pytest.raises(CompileError, match="openvino cannot"):
        build_with_fallback(BuildOptions(onnx_path=str(model), precision="fp32", backend="openvino",
                                         cache_dir=str(tmp_path / "cache")))
    code = main(["compile", str(model), "--precision", "fp32", "--backend", "openvino", "--quiet",
                 "--cache-dir", str(tmp_path / "cache")])
    err = capsys.readouterr().err
    assert code == 1 and err.count("\n") == 1 and err.count("(fix:") == 1


def test_one_line_folds_lines_and_keeps_only_the_outer_fix() -> None:
    inner = ManifestError("bad thing\n\n  on two lines", fix="do (this) first")
    outer = CompileError(f"the build failed: {inner}", fix="try again")
    assert one_line(outer) == "the build failed: bad thing on two lines (fix: try again)"
    assert one_line(inner) == "bad thing on two lines (fix: do (this) first)"
    assert one_line(ValueError("plain")) == "plain"
