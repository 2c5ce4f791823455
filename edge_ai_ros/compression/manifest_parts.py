"""The manifest of an exported FP32 variant, from what a task adapter knows about it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from edge_ai_ros.artifact_files import describe_files
from edge_ai_ros.atomic_io import file_sha256
from edge_ai_ros.engines.base import TensorSpec
from edge_ai_ros.errors import ConfigError, ManifestError
from edge_ai_ros.manifest import ArtifactSpec, DecoderSpec, ModelManifest, PreprocessSpec


def preprocess_for(input_shape: Sequence[int], options: Mapping[str, Any]) -> PreprocessSpec:
    """The node's preprocessing to the model's input size; ``options`` are other PreprocessSpec fields."""
    values = dict(options)
    for key in ("mean", "std"):
        if key in values:
            values[key] = tuple(float(v) for v in values[key])
    try:
        return PreprocessSpec(width=int(input_shape[-1]), height=int(input_shape[-2]), **values)
    except (TypeError, ValueError, ManifestError) as err:
        raise ConfigError("task.preprocess", f"{dict(options)} is not a preprocessing spec: {err}",
                          fix="use PreprocessSpec fields: letterbox, pad_value, mean, std, scale, resample, ...") from err


def onnx_manifest(onnx_path: Path, *, model_id: str, task: str, labels: Sequence[str], decoder: DecoderSpec,
                  preprocess: PreprocessSpec, input_name: str, output_name: str, input_shape: Sequence[int],
                  output_shape: Sequence[int], build: Mapping[str, Any]) -> ModelManifest:
    """A portable FP32 ONNX artifact's manifest (hash and size read from the file; batch axis dynamic)."""
    digest = file_sha256(onnx_path)
    return ModelManifest(
        model_id=f"{model_id}-{digest[:8]}", task=task, labels=tuple(labels), preprocess=preprocess, decoder=decoder,
        inputs=(TensorSpec(name=input_name, shape=("batch", *input_shape[1:]), dtype="float32"),),
        outputs=(TensorSpec(name=output_name, shape=("batch", *output_shape[1:]), dtype="float32"),),
        artifact=ArtifactSpec(path=onnx_path.name, format="onnx", sha256=digest, size_bytes=onnx_path.stat().st_size,
                              files=describe_files(onnx_path, "onnx")),
        source_onnx_sha256=digest, precision="fp32", backend="any", build=dict(build),
    )
