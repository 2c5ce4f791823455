"""The detector's in-graph box decoding stays FP32 in INT8 builds."""

from __future__ import annotations

from pathlib import Path

import onnx

from edge_ai_ros.compiler.sensitivity import COMPUTE_OPS, output_tail

DEMO_ONNX = Path(__file__).resolve().parents[2] / "edge_ai_ros/assets/demo_detector/detector.onnx"


def test_demo_detector_tail_holds_the_final_concat_and_no_compute_layer() -> None:
    model = onnx.load(str(DEMO_ONNX))
    by_name = {n.name: n for n in model.graph.node}
    tail = output_tail(DEMO_ONNX)
    producer = next(n for n in model.graph.node if model.graph.output[0].name in n.output)
    assert producer.name in tail, "the node producing `predictions` must be kept FP32"
    assert not any(by_name[name].op_type in COMPUTE_OPS for name in tail)
    convs = [n for n in model.graph.node if n.op_type == "Conv"]
    assert convs and not any(c.name in tail for c in convs)


def test_a_plain_classifier_has_no_tail_before_its_last_gemm(tmp_path: Path) -> None:
    from onnx import TensorProto, helper

    weight = helper.make_tensor("w", TensorProto.FLOAT, [4, 8], [0.1] * 32)
    graph = helper.make_graph(
        [helper.make_node("Relu", ["x"], ["r"], name="relu"),
         helper.make_node("Gemm", ["r", "w"], ["y"], name="fc", transB=1),
         helper.make_node("Softmax", ["y"], ["p"], name="softmax")],
        "clf", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 8])],
        [helper.make_tensor_value_info("p", TensorProto.FLOAT, [1, 4])], [weight],
    )
    path = tmp_path / "clf.onnx"
    onnx.save(helper.make_model(graph), str(path))
    assert output_tail(path) == ("softmax",)
