# ruff: noqa: F811  (pytest fixtures imported from compiler_models are redefined as parameters)
from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from compiler_models import classifier_onnx, image_folder  # noqa: F401 - pytest fixtures
from onnx import numpy_helper

from edge_ai_ros.compiler import sensitivity
from edge_ai_ros.compiler.build import BuildOptions, build_engine
from edge_ai_ros.compiler.calibrate.quantize_qdq import QdqOptions, quantize_to_qdq
from edge_ai_ros.compiler.calibration_data import CalibrationConfig
from edge_ai_ros.errors import ConfigError

RNG = np.random.default_rng(0)
TENSORS = [RNG.random((1, 3, 32, 32), dtype=np.float32) for _ in range(6)]


def _zero_point_types(path: Path) -> set[int]:
    model = onnx.load(str(path))
    inits = {i.name: i for i in model.graph.initializer}
    return {inits[n.input[2]].data_type for n in model.graph.node if n.op_type == "QuantizeLinear"}


@pytest.mark.parametrize(("flavour", "dtype"), [("tensorrt_s8s8", onnx.TensorProto.INT8),
                                                ("cpu_u8s8", onnx.TensorProto.UINT8)])
def test_qdq_flavour_sets_activation_type(classifier_onnx: Path, tmp_path: Path, flavour: str, dtype: int) -> None:
    out = quantize_to_qdq(classifier_onnx, tmp_path / "q.onnx", "images", TENSORS, QdqOptions(flavour=flavour))
    assert _zero_point_types(out) == {dtype}


def test_tensorrt_flavour_is_symmetric(classifier_onnx: Path, tmp_path: Path) -> None:
    out = quantize_to_qdq(classifier_onnx, tmp_path / "q.onnx", "images", TENSORS,
                          QdqOptions(flavour="tensorrt_s8s8", method="percentile", percentile=99.9))
    model = onnx.load(str(out))
    inits = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    zero_points = [inits[n.input[2]] for n in model.graph.node if n.op_type in ("QuantizeLinear", "DequantizeLinear")]
    assert zero_points and all(not np.any(z) for z in zero_points)


def test_excluded_nodes_stay_float(classifier_onnx: Path, tmp_path: Path) -> None:
    out = quantize_to_qdq(classifier_onnx, tmp_path / "q.onnx", "images", TENSORS,
                          QdqOptions(nodes_to_exclude=("fc",)))
    model = onnx.load(str(out))
    producers = {o: n.op_type for n in model.graph.node for o in n.output}
    fc = next(n for n in model.graph.node if n.name == "fc")
    assert producers.get(fc.input[1]) != "DequantizeLinear"  # weight fed as float, not through DQ
    conv1 = next(n for n in model.graph.node if n.name == "conv1")
    assert producers.get(conv1.input[1]) == "DequantizeLinear"


def test_named_layers_resolve_first_and_last(classifier_onnx: Path) -> None:
    assert sensitivity.resolve_named(classifier_onnx, [":first", ":last", "conv2"]) == ("conv1", "fc", "conv2")
    with pytest.raises(ConfigError, match="'nope' is not a Conv/Gemm/MatMul node"):
        sensitivity.resolve_named(classifier_onnx, ["nope"])


def test_worst_nodes_ranks_compute_nodes(classifier_onnx: Path, tmp_path: Path) -> None:
    qdq = quantize_to_qdq(classifier_onnx, tmp_path / "q.onnx", "images", TENSORS, QdqOptions())
    worst = sensitivity.worst_nodes(classifier_onnx, qdq, "images", TENSORS[:2], 2)
    assert len(worst) == 2 and set(worst) <= {"conv1", "conv2", "fc"}


def test_auto_keep_is_recorded_in_the_manifest(classifier_onnx: Path, image_folder: Path, tmp_path: Path) -> None:
    result = build_engine(BuildOptions(onnx_path=str(classifier_onnx), backend="onnxruntime", auto_keep=1,
                                       keep_layers=(":first",), calibration=CalibrationConfig(source=str(image_folder)),
                                       cache_dir=str(tmp_path / "cache")))
    assert result.manifest.calibration is not None
    kept = result.manifest.calibration["nodes_kept_fp32"]
    assert "conv1" in kept and len(kept) in (1, 2)
