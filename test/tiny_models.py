"""Tiny ONNX models built with onnx.helper, and manifests for them, for engine and pipeline tests.

Each model's output is a known function of its input, so a test can say what a backend must
return without a trained model:
- identity_conv: a 1x1 convolution with identity weights (output == input).
- detector: yolov5 rows; objectness of row 0 is 0.5 + 0.4 * mean red, so the input matters.
- classifier: logits = 10 * per-channel means (class 0 red, 1 green, 2 blue).
- segmenter: per-pixel logits = the RGB channels (optionally average-pooled, stride 2).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from edge_ai_ros.atomic_io import file_sha256
from edge_ai_ros.engines.base import TensorSpec
from edge_ai_ros.manifest import ArtifactSpec, DecoderSpec, ModelManifest, PreprocessSpec, save_manifest

RGB = ("red", "green", "blue")
DETECTOR_LABELS = ("car", "person")
# cx, cy, w, h, obj, p(car), p(person) in 64x64 input pixels; row 0's obj is replaced by 0.5 + 0.4 * mean red.
DETECTOR_ROWS = np.array([
    [22, 28, 20, 20, 0.0, 0.9, 0.1],
    [23, 28, 20, 20, 0.6, 0.9, 0.1],   # overlaps row 0, same class, lower score: suppressed by NMS
    [48, 40, 16, 8, 0.7, 0.2, 0.9],
    [10, 10, 4, 4, 0.1, 0.9, 0.1],     # below threshold
], dtype=np.float32)


def _model(nodes: list[onnx.NodeProto], inputs: list[onnx.ValueInfoProto], outputs: list[onnx.ValueInfoProto],
           initializers: list[onnx.TensorProto]) -> onnx.ModelProto:
    graph = helper.make_graph(nodes, "tiny", inputs, outputs, initializer=initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def _image_input(height: int, width: int) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, height, width])


def identity_conv(path: Path, *, height: int = 8, width: int = 8, batch: int | str = 1) -> Path:
    weight = np.eye(3, dtype=np.float32).reshape(3, 3, 1, 1)
    model = _model(
        [helper.make_node("Conv", ["images", "w"], ["features"])],
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, [batch, 3, height, width])],
        [helper.make_tensor_value_info("features", TensorProto.FLOAT, [batch, 3, height, width])],
        [numpy_helper.from_array(weight, "w")],
    )
    onnx.save(model, path)
    return path


def detector(path: Path, *, size: int = 64) -> Path:
    rows = DETECTOR_ROWS.copy()
    gain = np.zeros((3, *rows.shape), np.float32)
    gain[0, 0, 4] = 0.4  # row 0 objectness follows mean red
    rows[0, 4] = 0.5
    model = _model(
        [helper.make_node("ReduceMean", ["images"], ["means"], axes=[0, 2, 3], keepdims=0),
         helper.make_node("Reshape", ["means", "means_shape"], ["means3"]),
         helper.make_node("Mul", ["means3", "gain"], ["scaled"]),
         helper.make_node("ReduceSum", ["scaled", "axis0"], ["delta"], keepdims=1),
         helper.make_node("Add", ["delta", "rows"], ["predictions"])],
        [_image_input(size, size)],
        [helper.make_tensor_value_info("predictions", TensorProto.FLOAT, [1, *rows.shape])],
        [numpy_helper.from_array(gain, "gain"), numpy_helper.from_array(rows[None], "rows"),
         numpy_helper.from_array(np.array([3, 1, 1], np.int64), "means_shape"),
         numpy_helper.from_array(np.array([0], np.int64), "axis0")],
    )
    onnx.save(model, path)
    return path


def classifier(path: Path, *, size: int = 16) -> Path:
    model = _model(
        [helper.make_node("GlobalAveragePool", ["images"], ["pooled"]),
         helper.make_node("Flatten", ["pooled"], ["flat"]),
         helper.make_node("Mul", ["flat", "ten"], ["logits"])],
        [_image_input(size, size)],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, 3])],
        [numpy_helper.from_array(np.array(10.0, np.float32), "ten")],
    )
    onnx.save(model, path)
    return path


def segmenter(path: Path, *, size: int = 16, stride: int = 1) -> Path:
    nodes = [helper.make_node("Identity", ["images"], ["seg"])]
    if stride > 1:
        nodes = [helper.make_node("AveragePool", ["images"], ["seg"], kernel_shape=[stride, stride],
                                  strides=[stride, stride])]
    out = size // stride
    model = _model(nodes, [_image_input(size, size)],
                   [helper.make_tensor_value_info("seg", TensorProto.FLOAT, [1, 3, out, out])], [])
    onnx.save(model, path)
    return path


def _specs(values: list[onnx.ValueInfoProto]) -> tuple[TensorSpec, ...]:
    return tuple(
        TensorSpec(name=v.name, shape=tuple(d.dim_value if d.HasField("dim_value") else d.dim_param
                                            for d in v.type.tensor_type.shape.dim),
                   dtype=helper.tensor_dtype_to_np_dtype(v.type.tensor_type.elem_type).name)
        for v in values
    )


def write_manifest(onnx_path: Path, *, task: str, decoder: DecoderSpec, labels: tuple[str, ...],
                   preprocess: PreprocessSpec) -> Path:
    """Write ``<onnx>.manifest.json`` describing the model; return its path."""
    graph = onnx.load(onnx_path).graph
    sha = file_sha256(onnx_path)
    manifest = ModelManifest(
        model_id=onnx_path.stem, task=task, labels=labels, preprocess=preprocess, decoder=decoder,
        inputs=_specs(list(graph.input)), outputs=_specs(list(graph.output)),
        artifact=ArtifactSpec(path=onnx_path.name, format="onnx", sha256=sha, size_bytes=onnx_path.stat().st_size),
        source_onnx_sha256=sha,
    )
    return save_manifest(manifest, Path(f"{onnx_path}.manifest.json"))


def detector_manifest(directory: Path) -> Path:
    path = detector(directory / "det.onnx")
    return write_manifest(path, task="detection", decoder=DecoderSpec(kind="yolo"), labels=DETECTOR_LABELS,
                          preprocess=PreprocessSpec(width=64, height=64))


def classifier_manifest(directory: Path) -> Path:
    path = classifier(directory / "cls.onnx")
    return write_manifest(path, task="classification", decoder=DecoderSpec(kind="classification", top_k=2),
                          labels=RGB, preprocess=PreprocessSpec(width=16, height=16, letterbox=False))


def segmenter_manifest(directory: Path, *, stride: int = 1) -> Path:
    path = segmenter(directory / f"seg{stride}.onnx", stride=stride)
    return write_manifest(path, task="segmentation", decoder=DecoderSpec(kind="segmentation"), labels=RGB,
                          preprocess=PreprocessSpec(width=16, height=16, pad_value=0))
