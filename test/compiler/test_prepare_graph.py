"""Graph preparation before INT8: BatchNormalization folded into convolutions, shapes inferred."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

from edge_ai_ros.compiler.build import BuildOptions, build_engine
from edge_ai_ros.compiler.calibrate.prepare_graph import prepare_for_quantization
from edge_ai_ros.compiler.calibration_data import CalibrationConfig
from edge_ai_ros.manifest import artifact_path


def _bn_model(path: Path) -> Path:
    """conv1 (no bias) -> bn1 -> relu -> conv2 (bias) -> bn2 -> pool -> logits; conv3's output feeds two nodes."""
    rng = np.random.default_rng(0)

    def init(name: str, array: np.ndarray) -> onnx.TensorProto:
        return numpy_helper.from_array(array.astype(np.float32), name)

    def bn(i: int, c: int) -> list[onnx.TensorProto]:
        return [init(f"g{i}", rng.uniform(0.5, 2, c)), init(f"be{i}", rng.normal(0, 1, c)),
                init(f"mu{i}", rng.normal(0, 1, c)), init(f"var{i}", rng.uniform(0.1, 3, c))]

    nodes = [
        helper.make_node("Conv", ["images", "w1"], ["c1"], name="conv1", pads=[1, 1, 1, 1]),
        helper.make_node("BatchNormalization", ["c1", "g1", "be1", "mu1", "var1"], ["b1"], name="bn1", epsilon=1e-3),
        helper.make_node("Relu", ["b1"], ["r1"], name="relu1"),
        helper.make_node("Conv", ["r1", "w2", "bias2"], ["c2"], name="conv2"),
        helper.make_node("BatchNormalization", ["c2", "g2", "be2", "mu2", "var2"], ["b2"], name="bn2"),
        helper.make_node("Conv", ["b2", "w3"], ["c3"], name="conv3"),
        helper.make_node("BatchNormalization", ["c3", "g3", "be3", "mu3", "var3"], ["b3"], name="bn3"),
        helper.make_node("Add", ["b3", "c3"], ["sum"], name="add"),  # c3 has two users: bn3 is not folded
        helper.make_node("GlobalAveragePool", ["sum"], ["p"], name="pool"),
        helper.make_node("Flatten", ["p"], ["logits"], name="flatten"),
    ]
    inits = [init("w1", rng.normal(0, 0.5, (8, 3, 3, 3))), init("w2", rng.normal(0, 0.3, (6, 8, 1, 1))),
             init("bias2", rng.normal(0, 0.1, 6)), init("w3", rng.normal(0, 0.3, (5, 6, 1, 1))),
             *bn(1, 8), *bn(2, 6), *bn(3, 5)]
    graph = helper.make_graph(nodes, "bn", [helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, 16, 16])],
                              [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, 5])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


def _run(path: Path, x: np.ndarray) -> np.ndarray:
    return np.asarray(ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"images": x})[0])


def test_batch_norms_after_convs_are_folded_exactly_and_shapes_inferred(tmp_path: Path) -> None:
    source = _bn_model(tmp_path / "bn.onnx")
    prepared = prepare_for_quantization(source, tmp_path / "prepared.onnx")
    model = onnx.load(str(prepared))
    assert [n.name for n in model.graph.node if n.op_type == "BatchNormalization"] == ["bn3"]
    assert {v.name for v in model.graph.value_info} >= {"r1", "c3", "sum"}
    x = np.random.default_rng(1).uniform(0, 1, (1, 3, 16, 16)).astype(np.float32)
    np.testing.assert_allclose(_run(prepared, x), _run(source, x), rtol=1e-4, atol=1e-5)


def test_int8_build_quantizes_the_folded_graph(tmp_path: Path) -> None:
    source = _bn_model(tmp_path / "bn.onnx")
    rng = np.random.default_rng(2)
    np.save(tmp_path / "calib.npy", rng.uniform(0, 1, (12, 1, 3, 16, 16)).astype(np.float32))
    result = build_engine(BuildOptions(onnx_path=str(source), precision="int8", backend="onnxruntime",
                                       calibration=CalibrationConfig(source=str(tmp_path / "calib.npy")),
                                       cache_dir=str(tmp_path / "cache"), max_drop=100.0))
    qdq = onnx.load(str(artifact_path(result.manifest, result.manifest_path)))
    ops = [n.op_type for n in qdq.graph.node]
    assert ops.count("BatchNormalization") == 1 and "QuantizeLinear" in ops
    assert any("bn_folded" in t.name for t in qdq.graph.initializer)  # the quantized weights are the folded ones
