"""Graph preparation before INT8 quantization, as the runtimes' quantization guides advise.

- BatchNormalization after a convolution is folded into the convolution's weights and bias
  (``w' = w * g / sqrt(var + eps)`` per output channel, ``b' = (b - mean) * g / sqrt(var + eps) + beta``),
  so the quantizer sees one Conv with the real weight range instead of a Conv whose output an
  unquantizable BN rescales.
- ONNX shape inference fills in every intermediate tensor's shape, which the quantizer needs
  to place QuantizeLinear/DequantizeLinear pairs (ONNX Runtime warns without it).

A graph with neither (the demo detector has no BatchNormalization) comes out numerically identical.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np


def prepare_for_quantization(model_path: Path, output_path: Path) -> Path:
    """Write ``model_path`` with Conv+BatchNormalization folded and shapes inferred to ``output_path``."""
    import onnx

    model = onnx.load(str(model_path))
    fold_batch_norms(model)
    model = onnx.shape_inference.infer_shapes(model)
    onnx.save(model, str(output_path))
    return output_path


def fold_batch_norms(model: Any) -> int:
    """Fold each BatchNormalization whose input is a Conv output used nowhere else; return how many."""
    from onnx import numpy_helper

    graph = model.graph
    weights = {t.name: t for t in graph.initializer}
    producers = {out: node for node in graph.node for out in node.output}
    uses: dict[str, int] = {}
    for node in graph.node:
        for name in node.input:
            uses[name] = uses.get(name, 0) + 1
    outputs = {o.name for o in graph.output}
    folded = []
    for bn in graph.node:
        conv = producers.get(bn.input[0]) if bn.op_type == "BatchNormalization" else None
        if conv is None or conv.op_type != "Conv" or uses.get(bn.input[0], 0) != 1 or bn.input[0] in outputs:
            continue
        if not all(name in weights for name in (conv.input[1], *bn.input[1:5])):
            continue
        _fold(conv, bn, weights, graph, numpy_helper)
        folded.append(bn)
    for bn in folded:
        graph.node.remove(bn)
    used = {name for node in graph.node for name in node.input}
    for unused in [t for t in graph.initializer if t.name not in used and folded]:
        graph.initializer.remove(unused)  # the replaced weights and the BN statistics
    return len(folded)


def _fold(conv: Any, bn: Any, weights: dict[str, Any], graph: Any, numpy_helper: Any) -> None:
    """Rewrite ``conv``'s weight and bias to include ``bn``; the Conv then writes the BN's output."""
    w = numpy_helper.to_array(weights[conv.input[1]]).astype(np.float64)
    gamma, beta, mean, var = (numpy_helper.to_array(weights[n]).astype(np.float64) for n in bn.input[1:5])
    eps = next((a.f for a in bn.attribute if a.name == "epsilon"), 1e-5)
    scale = gamma / np.sqrt(var + eps)
    bias = numpy_helper.to_array(weights[conv.input[2]]).astype(np.float64) if len(conv.input) > 2 else 0.0
    dtype = numpy_helper.to_array(weights[conv.input[1]]).dtype
    new_w = numpy_helper.from_array((w * scale.reshape(-1, *[1] * (w.ndim - 1))).astype(dtype),
                                    f"{conv.input[1]}_bn_folded")
    new_b = numpy_helper.from_array(((bias - mean) * scale + beta).astype(dtype), f"{conv.name or conv.output[0]}_bias_bn")
    graph.initializer.extend([new_w, new_b])
    conv.input[1] = new_w.name
    if len(conv.input) > 2:
        conv.input[2] = new_b.name
    else:
        conv.input.append(new_b.name)
    conv.output[0] = bn.output[0]
