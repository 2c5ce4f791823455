"""A tiny ONNX detector (yolov5 layout) and its manifest, built with onnx.helper for node tests.

Its output depends on the image's per-channel means, so a wrong channel order or a broken
conversion moves a box: anchor 0's cx is 10 + 8 * (mean blue - mean red) input pixels, and
anchor 1's objectness is 0.2 + 0.7 * mean red. Anchor 2 always scores below 0.25.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from edge_ai_ros.atomic_io import file_sha256
from edge_ai_ros.engines.base import TensorSpec
from edge_ai_ros.manifest import ArtifactSpec, DecoderSpec, ModelManifest, PreprocessSpec, save_manifest

SIZE = 32
LABELS = ("car", "person")
ANCHORS = 3
WIDTH = 5 + len(LABELS)


def _weights(box_shift: float = 0.0, objectness: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    bias = np.array([
        [10, 12, 8, 6, 0.9, 0.9, 0.1],
        [20, 20, 10, 10, 0.2, 0.2, 0.8],
        [25, 8, 4, 4, 0.1, 0.9, 0.1],
    ], dtype=np.float32)
    bias[:, 0] += box_shift  # a second model whose boxes differ by box_shift input pixels
    bias[:, 4] *= objectness  # objectness 0: a model that never detects anything
    weight = np.zeros((3, ANCHORS, WIDTH), dtype=np.float32)
    weight[2, 0, 0], weight[0, 0, 0] = 8.0, -8.0  # cx of anchor 0 follows blue - red
    weight[0, 1, 4] = 0.7 * objectness  # objectness of anchor 1 follows red
    return weight.reshape(3, ANCHORS * WIDTH), bias.reshape(ANCHORS * WIDTH)


def build_detector(directory: Path, model_id: str = "tiny-detector", *, box_shift: float = 0.0,
                   objectness: float = 1.0, dynamic_batch: bool = False) -> Path:
    """Write tiny.onnx and its manifest into ``directory``; return the manifest path.

    ``box_shift`` moves every box's cx (input pixels), ``objectness`` scales every objectness;
    ``dynamic_batch`` exports a "batch" first dimension (one engine call for many cameras).
    """
    batch: int | str = "batch" if dynamic_batch else 1
    weight, bias = _weights(box_shift, objectness)
    nodes = [
        helper.make_node("ReduceMean", ["images"], ["means"], axes=[2, 3], keepdims=0),
        helper.make_node("MatMul", ["means", "weight"], ["flat"]),
        helper.make_node("Add", ["flat", "bias"], ["biased"]),
        helper.make_node("Reshape", ["biased", "shape"], ["predictions"]),
    ]
    graph = helper.make_graph(
        nodes, "tiny_detector",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, [batch, 3, SIZE, SIZE])],
        [helper.make_tensor_value_info("predictions", TensorProto.FLOAT, [batch, ANCHORS, WIDTH])],
        initializer=[numpy_helper.from_array(weight, "weight"), numpy_helper.from_array(bias, "bias"),
                     numpy_helper.from_array(np.array([-1 if dynamic_batch else 1, ANCHORS, WIDTH], np.int64), "shape")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    directory.mkdir(parents=True, exist_ok=True)
    onnx_path = directory / "tiny.onnx"
    onnx.save(model, onnx_path)
    sha = file_sha256(onnx_path)
    manifest = ModelManifest(
        model_id=model_id, task="detection", labels=LABELS,
        preprocess=PreprocessSpec(width=SIZE, height=SIZE),
        decoder=DecoderSpec(kind="yolo"),
        inputs=(TensorSpec(name="images", shape=(batch, 3, SIZE, SIZE), dtype="float32"),),
        outputs=(TensorSpec(name="predictions", shape=(batch, ANCHORS, WIDTH), dtype="float32"),),
        artifact=ArtifactSpec(path="tiny.onnx", format="onnx", sha256=sha, size_bytes=onnx_path.stat().st_size),
        source_onnx_sha256=sha,
    )
    path = directory / "tiny.onnx.manifest.json"
    save_manifest(manifest, path)
    return path
