"""The ONNX model a build starts from: bytes, hash, tensor specs, and what its manifest says.

A missing or corrupt file is refused here, before any work. Task, labels, preprocessing
and decoder come from the ``<model>.onnx.manifest.json`` beside it when there is one (the
demo model ships one); otherwise they are inferred from the output shape and the input
size, and the build records that they were inferred.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from edge_ai_ros.atomic_io import bytes_sha256
from edge_ai_ros.engines.base import TensorSpec
from edge_ai_ros.errors import CompileError, ManifestError
from edge_ai_ros.manifest import DecoderSpec, PreprocessSpec, load_manifest, manifest_path_for


@dataclass(frozen=True, kw_only=True)
class SourceModel:
    path: Path
    sha256: str
    model_id: str
    task: str
    labels: tuple[str, ...]
    preprocess: PreprocessSpec
    decoder: DecoderSpec
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    metadata_from: str  # "manifest" or "inferred"
    prequantized: bool = False  # the graph already has QuantizeLinear/DequantizeLinear (QAT, QDQ export)

    @property
    def input_name(self) -> str:
        return self.inputs[0].name


def load_source_model(path: str | Path) -> SourceModel:
    """Read and check ``path``; raise CompileError naming the problem if it is not a usable ONNX model."""
    import onnx

    path = Path(path)
    if not path.is_file():
        raise CompileError(f"ONNX model not found: {path}", fix="pass the path of an existing .onnx file")
    data = path.read_bytes()
    try:
        model = onnx.load_from_string(data)
        onnx.checker.check_model(model)
    except Exception as err:  # noqa: BLE001 - protobuf DecodeError and onnx ValidationError are unrelated types
        raise CompileError(f"ONNX model {path} is corrupt or invalid: {type(err).__name__}: {err}",
                           fix="re-export the model; the file may be truncated") from err
    inputs = tuple(_spec(v) for v in model.graph.input if v.name not in {i.name for i in model.graph.initializer})
    outputs = tuple(_spec(v) for v in model.graph.output)
    if len(inputs) != 1:
        raise CompileError(f"{path.name} has {len(inputs)} inputs; the compiler builds single-image-input models",
                           fix="export the model with one image input")
    source = _with_metadata(path, bytes_sha256(data), inputs, outputs)
    qdq_ops = {"QuantizeLinear", "DequantizeLinear"}
    return replace(source, prequantized=any(node.op_type in qdq_ops for node in model.graph.node))


def _with_metadata(path: Path, sha: str, inputs: tuple[TensorSpec, ...], outputs: tuple[TensorSpec, ...]) -> SourceModel:
    companion = manifest_path_for(path)
    if companion.is_file():
        try:
            m = load_manifest(companion)
        except ManifestError as err:
            raise CompileError(f"manifest next to {path.name} is unreadable: {err}", fix="fix or remove it") from err
        return SourceModel(path=path, sha256=sha, model_id=m.model_id, task=m.task, labels=m.labels,
                           preprocess=m.preprocess, decoder=m.decoder, inputs=inputs, outputs=outputs,
                           metadata_from="manifest")
    height, width = inputs[0].shape[-2], inputs[0].shape[-1]
    if not isinstance(height, int) or not isinstance(width, int):
        raise CompileError(f"{path.name} has a dynamic input size and no manifest beside it",
                           fix=f"write {companion.name} with the preprocessing, or export a fixed size")
    task, kind = ("detection", "yolo") if len(outputs[0].shape) == 3 else ("classification", "classification")
    return SourceModel(path=path, sha256=sha, model_id=path.stem, task=task, labels=(),
                       preprocess=PreprocessSpec(width=width, height=height), decoder=DecoderSpec(kind=kind),
                       inputs=inputs, outputs=outputs, metadata_from="inferred")


def _spec(value: object) -> TensorSpec:
    import onnx

    tensor_type = value.type.tensor_type  # type: ignore[attr-defined]
    dims: list[int | str] = [d.dim_value if d.HasField("dim_value") else (d.dim_param or "?")
                             for d in tensor_type.shape.dim]
    dtype = np.dtype(onnx.helper.tensor_dtype_to_np_dtype(tensor_type.elem_type)).name
    return TensorSpec(name=value.name, shape=tuple(dims), dtype=dtype)  # type: ignore[attr-defined]
