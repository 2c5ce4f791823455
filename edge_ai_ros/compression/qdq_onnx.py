"""Make an exported QAT graph look like what INT8 runtimes fuse.

The exporter writes weights as float constants followed by QuantizeLinear ->
DequantizeLinear, and conv biases as float. ONNX Runtime fuses DQ -> Conv -> Q into an
INT8 convolution only when every Conv input comes from a DequantizeLinear, with the bias
in int32 at scale s_x * s_w (the convention of ONNX Runtime's own quantizer and of
TensorRT's explicit-quantization graphs). This pass stores weights as int8 initializers
and biases as int32, and leaves everything else unchanged.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import helper, numpy_helper

_INT32_MAX = float(np.iinfo(np.int32).max)


def _constants(model: onnx.ModelProto) -> dict[str, np.ndarray]:
    values = {init.name: numpy_helper.to_array(init) for init in model.graph.initializer}
    for node in model.graph.node:
        if node.op_type == "Constant" and node.attribute and node.attribute[0].name == "value":
            values[node.output[0]] = numpy_helper.to_array(node.attribute[0].t)
    return values


def _quantize(value: np.ndarray, scale: np.ndarray, zero_point: np.ndarray, axis: int) -> np.ndarray:
    shape = [1] * value.ndim
    if scale.size > 1:
        shape[axis] = -1
    info = np.iinfo(zero_point.dtype)
    q = np.round(value / scale.reshape(shape)) + zero_point.astype(np.int64).reshape(shape)
    quantized: np.ndarray = np.clip(q, info.min, info.max).astype(zero_point.dtype)
    return quantized


def _fold_weight_quantize(model: onnx.ModelProto, consts: dict[str, np.ndarray]) -> int:
    """QuantizeLinear(constant) -> one int8 initializer; returns how many were folded."""
    graph, folded = model.graph, 0
    for node in list(graph.node):
        if node.op_type != "QuantizeLinear" or node.input[0] not in consts:
            continue
        axis = next((a.i for a in node.attribute if a.name == "axis"), 1)
        zero_point = consts[node.input[2]] if len(node.input) > 2 else np.zeros((), np.uint8)
        q = _quantize(consts[node.input[0]], consts[node.input[1]], zero_point, axis)
        name = f"{node.output[0]}_quantized"
        graph.initializer.append(numpy_helper.from_array(q, name))
        consts[name] = q
        for user in graph.node:
            for i, inp in enumerate(user.input):
                if inp == node.output[0]:
                    user.input[i] = name
        graph.node.remove(node)
        folded += 1
    return folded


def _producer(graph: onnx.GraphProto, tensor: str) -> onnx.NodeProto | None:
    return next((n for n in graph.node if tensor in n.output), None)


def _quantize_conv_biases(model: onnx.ModelProto, consts: dict[str, np.ndarray]) -> int:
    graph, done = model.graph, 0
    for node in list(graph.node):
        if node.op_type != "Conv" or len(node.input) < 3 or node.input[2] not in consts:
            continue
        dq_x, dq_w = _producer(graph, node.input[0]), _producer(graph, node.input[1])
        if not dq_x or not dq_w or dq_x.op_type != "DequantizeLinear" or dq_w.op_type != "DequantizeLinear":
            continue
        scale = (consts[dq_x.input[1]].astype(np.float64).reshape(-1) * consts[dq_w.input[1]].astype(np.float64).reshape(-1))
        bias = consts[node.input[2]].astype(np.float64)
        scale = np.broadcast_to(scale, bias.shape).copy()
        q = np.clip(np.round(bias / scale), -_INT32_MAX, _INT32_MAX).astype(np.int32)
        base = f"{node.input[2]}_int32"
        graph.initializer.extend([
            numpy_helper.from_array(q, base),
            numpy_helper.from_array(scale.astype(np.float32), f"{base}_scale"),
            numpy_helper.from_array(np.zeros_like(q), f"{base}_zero_point"),
        ])
        dq = helper.make_node("DequantizeLinear", [base, f"{base}_scale", f"{base}_zero_point"],
                              [f"{base}_dequantized"], axis=0, name=f"{base}_DequantizeLinear")
        graph.node.insert(list(graph.node).index(node), dq)
        node.input[2] = f"{base}_dequantized"
        done += 1
    return done


def finalize_qdq(path: str | Path) -> dict[str, int]:
    """Rewrite the QDQ model at ``path`` in place (caller writes to a temp path); returns counts."""
    model = onnx.load(str(path))
    consts = _constants(model)
    weights = _fold_weight_quantize(model, consts)
    biases = _quantize_conv_biases(model, consts)
    _drop_unused_constants(model)
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return {"int8_weights": weights, "int32_biases": biases}


def _drop_unused_constants(model: onnx.ModelProto) -> None:
    graph = model.graph
    used = {i for n in graph.node for i in n.input} | {o.name for o in graph.output}
    for node in list(graph.node):
        if node.op_type == "Constant" and node.output[0] not in used:
            graph.node.remove(node)
    for init in list(graph.initializer):
        if init.name not in used:
            graph.initializer.remove(init)


def count_qdq_nodes(path: str | Path) -> dict[str, int]:
    ops = [n.op_type for n in onnx.load(str(path)).graph.node]
    return {"QuantizeLinear": ops.count("QuantizeLinear"), "DequantizeLinear": ops.count("DequantizeLinear")}
