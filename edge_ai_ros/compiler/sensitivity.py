"""Which layers to keep in FP32 when quantizing: named ones, the first/last, or the worst found.

The automatic search quantizes the whole model once, runs FP32 and INT8 side by side on a
few calibration tensors with every intermediate tensor exposed, and scores each compute
node by how much relative error it *adds* (its output's error minus the worst error among
its inputs), so a late layer is not blamed for error it merely inherited. The worst N go
to ``nodes_to_exclude``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from edge_ai_ros.errors import ConfigError

COMPUTE_OPS = ("Conv", "ConvTranspose", "Gemm", "MatMul")
FIRST, LAST = ":first", ":last"


def compute_nodes(model_path: Path) -> list[tuple[str, str, list[str], list[str]]]:
    """(name, op_type, inputs, outputs) of the quantizable compute nodes, in graph order."""
    import onnx

    model = onnx.load(str(model_path))
    return [(n.name, n.op_type, list(n.input), list(n.output)) for n in model.graph.node if n.op_type in COMPUTE_OPS]


def output_tail(model_path: Path) -> tuple[str, ...]:
    """Nodes after the last compute layer on every path (a detector's in-graph box decoding).

    They mix tensors of very different ranges (box coordinates in pixels, scores in 0..1) and
    concatenate them: one INT8 scale for that concat turns every score into 0 or 1.25. They
    cost nothing to run in float, so they are always kept FP32 (TensorRT's advice too).
    """
    import onnx

    nodes = onnx.load(str(model_path)).graph.node
    consumers: dict[str, list[int]] = {}
    for index, node in enumerate(nodes):
        for name in node.input:
            consumers.setdefault(name, []).append(index)
    feeds_compute = [False] * len(nodes)
    for index in range(len(nodes) - 1, -1, -1):  # ONNX graphs are topologically sorted
        feeds_compute[index] = any(
            nodes[c].op_type in COMPUTE_OPS or feeds_compute[c]
            for out in nodes[index].output for c in consumers.get(out, ())
        )
    return tuple(n.name for i, n in enumerate(nodes)
                 if n.name and n.op_type not in COMPUTE_OPS and not feeds_compute[i])


def resolve_named(model_path: Path, names: Sequence[str]) -> tuple[str, ...]:
    """Turn names (and ``:first`` / ``:last``) into node names; an unknown name is an error naming it."""
    nodes = compute_nodes(model_path)
    known = {n[0] for n in nodes}
    resolved: list[str] = []
    for name in names:
        if name in (FIRST, LAST) and nodes:
            resolved.append(nodes[0 if name == FIRST else -1][0])
        elif name in known:
            resolved.append(name)
        else:
            raise ConfigError("keep_layers", f"{name!r} is not a Conv/Gemm/MatMul node of {model_path.name}",
                              fix=f"use :first, :last or one of {sorted(known)[:8]}")
    return tuple(dict.fromkeys(resolved))


def worst_nodes(fp32_path: Path, qdq_path: Path, input_name: str, tensors: Sequence[np.ndarray], count: int) -> tuple[str, ...]:
    """The ``count`` compute nodes adding the most quantization error, worst first."""
    nodes = compute_nodes(fp32_path)
    watched = sorted({t for _, _, ins, outs in nodes for t in (*ins, *outs)})
    ref = _run_exposed(fp32_path, input_name, tensors, watched)
    cand = _run_exposed(qdq_path, input_name, tensors, watched)
    errors = {t: _relative(ref[t], cand[t]) for t in ref if t in cand}
    scored = []
    for name, _, ins, outs in nodes:
        inherited = max((errors.get(t, 0.0) for t in ins), default=0.0)
        scored.append((errors.get(outs[0], 0.0) - inherited, name))
    scored.sort(reverse=True)
    return tuple(name for _, name in scored[:count])


def _run_exposed(model_path: Path, input_name: str, tensors: Sequence[np.ndarray], names: Sequence[str]) -> dict[str, list[np.ndarray]]:
    """Run with the named intermediate tensors added as outputs (those that exist in this graph)."""
    import onnx
    import onnxruntime

    model = onnx.load(str(model_path))
    produced = {o for n in model.graph.node for o in n.output}
    existing = {o.name for o in model.graph.output}
    for name in names:
        if name in produced and name not in existing:
            model.graph.output.append(onnx.helper.make_empty_tensor_value_info(name))
    session = onnxruntime.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    out_names = [o.name for o in session.get_outputs() if o.name in set(names)]
    runs = [session.run(out_names, {input_name: t}) for t in tensors]
    return {name: [r[i] for r in runs] for i, name in enumerate(out_names)}


def _relative(ref: list[np.ndarray], cand: list[np.ndarray]) -> float:
    num = sum(float(np.sum((c.astype(np.float64) - r) ** 2)) for r, c in zip(ref, cand, strict=True))
    den = sum(float(np.sum(r.astype(np.float64) ** 2)) for r in ref)
    return math.sqrt(num / den) if den > 0 else 0.0
