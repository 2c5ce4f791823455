"""Demo detector -> ONNX (checked against ONNX Runtime) and its manifest.

The export is only kept if onnx.checker accepts it and ONNX Runtime reproduces the torch
output on a generated frame; both happen on a temporary file that is renamed into place.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from edge_ai_ros.artifact_files import describe_files
from edge_ai_ros.atomic_io import atomic_output_path, file_sha256
from edge_ai_ros.demo.dataset import DEMO_PREPROCESS
from edge_ai_ros.demo.scene import CLASSES, scene_at
from edge_ai_ros.engines.base import TensorSpec
from edge_ai_ros.errors import CompileError
from edge_ai_ros.manifest import ArtifactSpec, DecoderSpec, ModelManifest, manifest_path_for, save_manifest
from edge_ai_ros.models.detector import num_anchors
from edge_ai_ros.preprocess import preprocess

INPUT_NAME = "images"
OUTPUT_NAME = "predictions"
MAX_ABS_DIFF = 1e-3  # ONNX Runtime vs torch on the check frame, FP32


@dataclass(frozen=True, kw_only=True)
class ExportReport:
    path: Path
    sha256: str
    size_bytes: int
    max_abs_diff: float  # ONNX Runtime against torch on one generated frame


def check_frame() -> np.ndarray:
    """The preprocessed [1, 3, 320, 320] tensor of a held-out generated frame."""
    scene = scene_at("eval", 0, 0)
    tensor, _ = preprocess(scene.image, DEMO_PREPROCESS)
    return tensor


def _ort_output(path: Path, tensor: np.ndarray) -> np.ndarray:
    import onnxruntime as ort  # lazily: only export and the serving backends need it

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return np.asarray(session.run([OUTPUT_NAME], {INPUT_NAME: tensor})[0])


def export_onnx(model: nn.Module, path: str | Path, *, opset: int = 17, dynamic_batch: bool = True) -> ExportReport:
    """Export ``model`` (input ``images`` [N, 3, 320, 320], output ``predictions``) to ``path``."""
    import onnx

    model = model.eval()
    tensor = check_frame()
    with torch.no_grad():
        expected = model(torch.from_numpy(tensor)).numpy()
    axes = {INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}} if dynamic_batch else None
    with atomic_output_path(path) as tmp, warnings.catch_warnings():
        # the TorchScript exporter (deprecated, still shipped) gives a plain-op graph with no extra
        # dependency; the warning it raises says nothing about this model
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(model, (torch.from_numpy(tensor),), str(tmp), input_names=[INPUT_NAME],
                          output_names=[OUTPUT_NAME], dynamic_axes=axes, opset_version=opset, dynamo=False)
        onnx.checker.check_model(str(tmp), full_check=True)
        diff = float(np.max(np.abs(_ort_output(tmp, tensor) - expected)))
        if not diff <= MAX_ABS_DIFF:
            raise CompileError(f"ONNX Runtime output differs from torch by {diff:.3g} (allowed {MAX_ABS_DIFF})",
                               fix="check the model for ops that export differently; try another opset")
    final = Path(path)
    return ExportReport(path=final, sha256=file_sha256(final), size_bytes=final.stat().st_size, max_abs_diff=diff)


def detector_manifest(onnx_path: str | Path, *, accuracy: Mapping[str, Any] | None = None,
                      build: Mapping[str, Any] | None = None, num_classes: int = len(CLASSES)) -> ModelManifest:
    """The manifest of a demo-detector ONNX file (hash and size read from the file)."""
    path = Path(onnx_path)
    digest = file_sha256(path)
    return ModelManifest(
        model_id=f"demo_detector-{digest[:8]}",
        task="detection",
        labels=CLASSES[:num_classes],
        preprocess=DEMO_PREPROCESS,
        decoder=DecoderSpec(kind="yolo", score_threshold=0.25, iou_threshold=0.45),
        inputs=(TensorSpec(name=INPUT_NAME, shape=("batch", 3, 320, 320), dtype="float32"),),
        outputs=(TensorSpec(name=OUTPUT_NAME, shape=("batch", num_anchors(DEMO_PREPROCESS.width), 5 + num_classes), dtype="float32"),),
        artifact=ArtifactSpec(path=path.name, format="onnx", sha256=digest, size_bytes=path.stat().st_size,
                              files=describe_files(path, "onnx")),
        source_onnx_sha256=digest,
        precision="fp32",
        backend="any",
        accuracy=dict(accuracy) if accuracy is not None else None,
        build=dict(build or {}),
    )


def write_manifest(onnx_path: str | Path, *, accuracy: Mapping[str, Any] | None = None,
                   build: Mapping[str, Any] | None = None) -> Path:
    """Write ``<onnx>.manifest.json`` next to the ONNX file; returns its path."""
    manifest = detector_manifest(onnx_path, accuracy=accuracy, build=build)
    return save_manifest(manifest, manifest_path_for(onnx_path))
