"""Tiny ONNX models, calibration folders and their fixtures for compiler tests (onnx.helper + scene generator).

Not a conftest.py: test/conftest.py is imported by name elsewhere, and a second conftest would shadow it.
Test modules import the fixtures they use from here.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper
from PIL import Image

from edge_ai_ros.demo.scene import scene_at

SIZE = 32


def _init(name: str, array: np.ndarray) -> onnx.TensorProto:
    return numpy_helper.from_array(array.astype(np.float32), name)


def _conv_stack(rng: np.random.Generator) -> tuple[list[onnx.NodeProto], list[onnx.TensorProto]]:
    nodes = [
        helper.make_node("Conv", ["images", "w1", "b1"], ["c1"], name="conv1", pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c1"], ["r1"], name="relu1"),
        helper.make_node("Conv", ["r1", "w2", "b2"], ["c2"], name="conv2", pads=[1, 1, 1, 1], strides=[2, 2]),
        helper.make_node("Relu", ["c2"], ["r2"], name="relu2"),
    ]
    inits = [_init("w1", rng.normal(0, 0.4, (8, 3, 3, 3))), _init("b1", rng.normal(0, 0.1, 8)),
             _init("w2", rng.normal(0, 0.2, (16, 8, 3, 3))), _init("b2", rng.normal(0, 0.1, 16))]
    return nodes, inits


def make_classifier(path: Path, seed: int = 0, classes: int = 10) -> Path:
    rng = np.random.default_rng(seed)
    nodes, inits = _conv_stack(rng)
    nodes += [helper.make_node("GlobalAveragePool", ["r2"], ["p"], name="pool"),
              helper.make_node("Flatten", ["p"], ["f"], name="flatten"),
              helper.make_node("Gemm", ["f", "wf", "bf"], ["logits"], name="fc", transB=1)]
    inits += [_init("wf", rng.normal(0, 1.0, (classes, 16))), _init("bf", rng.normal(0, 0.1, classes))]
    graph = helper.make_graph(
        nodes, "tiny_classifier",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, ["batch", 3, SIZE, SIZE])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", classes])], inits)
    return _save(graph, path)


def make_detector(path: Path, seed: int = 0, classes: int = 3) -> Path:
    """[1, 64, 5 + C] rows: cx, cy, w, h in input pixels, objectness and class scores sigmoided."""
    rng = np.random.default_rng(seed)
    nodes, inits = _conv_stack(rng)
    width = 5 + classes
    nodes += [helper.make_node("Conv", ["r2", "wh", "bh"], ["h"], name="head", strides=[2, 2]),
              helper.make_node("Reshape", ["h", "shape1"], ["h3"], name="flat"),
              helper.make_node("Transpose", ["h3"], ["rows"], name="rows", perm=[0, 2, 1]),
              helper.make_node("Sigmoid", ["rows"], ["s"], name="sig"),
              helper.make_node("Mul", ["s", "scale"], ["predictions"], name="to_pixels")]
    bias = rng.normal(0, 0.1, width)
    bias[4] = 1.5  # confident objectness so FP32 yields boxes to compare against
    inits += [_init("wh", rng.normal(0, 0.3, (width, 16, 1, 1))), _init("bh", bias),
              numpy_helper.from_array(np.array([1, width, -1], np.int64), "shape1"),
              _init("scale", np.array([SIZE, SIZE, SIZE / 2, SIZE / 2] + [1.0] * (1 + classes)))]
    graph = helper.make_graph(
        nodes, "tiny_detector",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, SIZE, SIZE])],
        [helper.make_tensor_value_info("predictions", TensorProto.FLOAT, [1, 64, width])], inits)
    return _save(graph, path)


def _save(graph: onnx.GraphProto, path: Path) -> Path:
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))
    return path


def write_scene_folder(folder: Path, count: int, width: int = 64, height: int = 48) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        Image.fromarray(scene_at("calibration", 0, i, width, height).image).save(folder / f"frame_{i:03d}.png")
    return folder


@pytest.fixture
def classifier_onnx(tmp_path: Path) -> Path:
    return make_classifier(tmp_path / "models" / "tiny_classifier.onnx")


@pytest.fixture
def detector_onnx(tmp_path: Path) -> Path:
    return make_detector(tmp_path / "models" / "tiny_detector.onnx")


@pytest.fixture
def image_folder(tmp_path: Path) -> Path:
    return write_scene_folder(tmp_path / "calib", 12)


@pytest.fixture
def scene_folder() -> Callable[[Path, int], Path]:
    return write_scene_folder
