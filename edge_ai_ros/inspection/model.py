"""Inspect an ONNX model and write the manifest that ``compile``, the node and replay read.

Facts come from, in order: the flags (``--layout``, ``--imgsz``), the exporter's metadata
(Ultralytics writes ``names``, ``stride``, ``imgsz``, ``task``, ``description`` into
``metadata_props``), a labels file, and the output shapes last (layout_guess.py).
Preprocessing follows the exporter's reference code for the layout (docs/detectors.md).
"""

from __future__ import annotations

import ast
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from edge_ai_ros.atomic_io import file_sha256
from edge_ai_ros.engines.base import TensorSpec
from edge_ai_ros.errors import ManifestError
from edge_ai_ros.inspection.layout_guess import guess_layout
from edge_ai_ros.manifest import (
    DETECTION_LAYOUTS,
    ArtifactSpec,
    DecoderSpec,
    ModelManifest,
    PreprocessSpec,
    manifest_path_for,
    save_manifest,
)

# layout -> preprocessing of the exporter's reference code (YOLOX: top-left pad, BGR, raw 0-255;
# Ultralytics RT-DETR: stretched to the input size, no letterbox); the rest: centred, RGB, / 255
_YOLOX = {"letterbox_position": "top_left", "channel_order": "bgr", "scale": 1.0}
LAYOUT_PREPROCESS: dict[str, dict[str, Any]] = {"yolox": _YOLOX, "yolox_raw": _YOLOX, "rtdetr": {"letterbox": False}}
_TASKS = {"detect": "detection", "segment": "detection", "classify": "classification"}


@dataclass(frozen=True, kw_only=True)
class Inspection:
    """What the package infers about one ONNX model, and where each fact came from."""

    path: Path
    task: str
    layout: str
    labels: tuple[str, ...]
    preprocess: PreprocessSpec
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    dynamic_size: bool
    sources: dict[str, str] = field(default_factory=dict)  # fact -> "metadata", "labels file", "flag", "shapes"

    def decoder(self) -> DecoderSpec:
        kind = {"detection": "yolo"}.get(self.task, self.task)
        return DecoderSpec(kind=kind, layout=self.layout or "yolov5")

    def lines(self) -> list[str]:
        pre, src = self.preprocess, self.sources
        names = ", ".join(self.labels[:8]) + (f", ... ({len(self.labels)})" if len(self.labels) > 8 else "")
        return [
            f"model:        {self.path.name}",
            f"task:         {self.task} ({src.get('task', 'shapes')})",
            f"layout:       {self.layout or '-'} ({src.get('layout', 'shapes')})",
            f"input:        {self.inputs[0].name} {list(self.inputs[0].shape)} {self.inputs[0].dtype}; size "
            f"{pre.width}x{pre.height}{' (dynamic; ' + src.get('size', '') + ')' if self.dynamic_size else ''}",
            f"colour order: {pre.channel_order}",
            f"normalise:    x * {pre.scale:g}, mean {list(pre.mean)}, std {list(pre.std)}",
            f"letterbox:    {pre.letterbox_position}, pad {pre.pad_value}",
            f"classes:      {len(self.labels)} ({src.get('labels', 'none')}): {names or '-'}",
            "outputs:      " + "; ".join(f"{o.name} {list(o.shape)} {o.dtype}" for o in self.outputs),
        ]


def inspect_onnx(path: str | Path, *, labels_file: str = "", layout: str = "",
                 imgsz: tuple[int, int] | None = None) -> Inspection:
    """Read ``path`` and infer everything the manifest needs; ManifestError if it cannot."""
    if layout and layout not in DETECTION_LAYOUTS:
        raise ManifestError(f"--layout {layout!r} is unknown", fix=f"use one of {', '.join(DETECTION_LAYOUTS)}")
    metadata, op_types, inputs, outputs = _read_graph(Path(path))
    sources: dict[str, str] = {}
    labels = _labels(metadata, labels_file, sources)
    width, height, dynamic = _input_size(inputs[0], metadata, imgsz, sources)
    exporter = "ultralytics" if "ultralytics" in metadata.get("author", "").lower() + \
        metadata.get("description", "").lower() else ""
    task, found = _task_and_layout(outputs, op_types, labels, (width, height), exporter, metadata, layout)
    sources["layout"] = "flag" if layout else ("metadata" if exporter else "shapes")
    sources["task"] = "metadata" if "task" in metadata else "shapes"
    pre = PreprocessSpec(width=width, height=height, **LAYOUT_PREPROCESS.get(found, {}))
    return Inspection(path=Path(path), task=task, layout=found, labels=labels, preprocess=pre,
                      inputs=inputs, outputs=outputs, dynamic_size=dynamic, sources=sources)


def _task_and_layout(outputs: tuple[TensorSpec, ...], op_types: set[str], labels: tuple[str, ...],
                     size: tuple[int, int], exporter: str, metadata: dict[str, str], layout: str) -> tuple[str, str]:
    if layout:
        return "detection", layout
    if exporter and "rt-detr" in metadata.get("description", "").lower():
        return "detection", "rtdetr"
    task, found = guess_layout(outputs, op_types=op_types, num_classes=len(labels), input_size=size,
                               exporter=exporter)
    declared = _TASKS.get(metadata.get("task", ""), "")
    if declared and declared != task:
        raise ManifestError(f"metadata says task {metadata['task']!r}, the outputs look like {task}",
                            fix="pass --layout to say how to decode the outputs")
    return task, found


def _read_graph(path: Path) -> tuple[dict[str, str], set[str], tuple[TensorSpec, ...], tuple[TensorSpec, ...]]:
    """(metadata, operator types, image inputs, outputs); ManifestError for a file that is no model."""
    import onnx  # heavy; only inspection needs it

    if not path.is_file():
        raise ManifestError(f"ONNX model not found: {path}", fix="pass the path of an existing .onnx file")
    try:
        model = onnx.load(str(path), load_external_data=False)
        onnx.checker.check_model(model)
    except Exception as err:  # noqa: BLE001 - protobuf DecodeError and onnx ValidationError are unrelated types
        raise ManifestError(f"{path.name} is not a valid ONNX model: {type(err).__name__}: {err}",
                            fix="re-export the model; the file may be truncated") from err
    weights = {i.name for i in model.graph.initializer}
    inputs = tuple(tensor_spec(v) for v in model.graph.input if v.name not in weights)
    if len(inputs) != 1:
        raise ManifestError(f"{path.name} has {len(inputs)} inputs; the package serves single-image-input models",
                            fix="export the model with one image input")
    outputs = tuple(tensor_spec(v) for v in model.graph.output)
    return ({p.key: p.value for p in model.metadata_props}, {n.op_type for n in model.graph.node}, inputs, outputs)


def tensor_spec(value: Any) -> TensorSpec:
    """An ONNX ValueInfo -> TensorSpec (symbolic dims by name)."""
    import onnx

    tensor_type = value.type.tensor_type
    dims = tuple(d.dim_value if d.HasField("dim_value") else (d.dim_param or "?") for d in tensor_type.shape.dim)
    dtype = np.dtype(onnx.helper.tensor_dtype_to_np_dtype(tensor_type.elem_type)).name
    return TensorSpec(name=value.name, shape=dims, dtype=dtype)


def _labels(metadata: dict[str, str], labels_file: str, sources: dict[str, str]) -> tuple[str, ...]:
    if labels_file:
        sources["labels"] = "labels file"
        return read_labels(Path(labels_file))
    if "names" in metadata:
        sources["labels"] = "metadata"
        return _names(_literal(metadata["names"], "names"), "metadata names")
    return ()


def read_labels(path: Path) -> tuple[str, ...]:
    """Class names from a .txt (one a line) or YAML (a list, a mapping, or ``names:`` of either)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise ManifestError(f"labels file {path} cannot be read: {err}", fix="pass a readable .txt or .yaml") from err
    if path.suffix.lower() not in (".yaml", ".yml"):
        return tuple(line.strip() for line in text.splitlines() if line.strip())
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise ManifestError(f"labels file {path} is not valid YAML: {err}", fix="fix the YAML") from err
    if isinstance(data, dict) and "names" in data:
        data = data["names"]
    return _names(data, f"labels file {path}")


def _names(data: object, where: str) -> tuple[str, ...]:
    if isinstance(data, dict):
        try:
            return tuple(str(data[k]) for k in sorted(data, key=int))
        except (TypeError, ValueError) as err:
            raise ManifestError(f"{where}: class ids must be integers", fix="use {0: name, 1: name}") from err
    if isinstance(data, list):
        return tuple(str(v) for v in data)
    raise ManifestError(f"{where} holds no class names", fix="give a list or {id: name} mapping of names")


def _literal(text: str, key: str) -> object:
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError) as err:
        raise ManifestError(f"metadata {key!r} is not a Python literal: {text[:60]!r}",
                            fix="pass --labels (and --imgsz) instead") from err


def _input_size(spec: TensorSpec, metadata: dict[str, str], imgsz: tuple[int, int] | None,
                sources: dict[str, str]) -> tuple[int, int, bool]:
    """(width, height, dynamic): fixed dims, else --imgsz, else metadata imgsz ([h, w])."""
    if len(spec.shape) != 4:
        raise ManifestError(f"input {spec.name!r} has shape {list(spec.shape)}; an image input is rank 4",
                            fix="export the model with an NCHW image input")
    height, width = spec.shape[2], spec.shape[3]
    if isinstance(height, int) and isinstance(width, int):
        return width, height, False
    if imgsz is not None:
        sources["size"] = "flag"
        return imgsz[0], imgsz[1], True
    if "imgsz" in metadata:
        value = _literal(metadata["imgsz"], "imgsz")
        if isinstance(value, list | tuple) and len(value) == 2:
            sources["size"] = "metadata"
            return int(value[1]), int(value[0]), True
    raise ManifestError(f"input {spec.name!r} has a dynamic size {list(spec.shape)} and no imgsz metadata",
                        fix="pass --imgsz WIDTHxHEIGHT")


def write_manifest(inspection: Inspection, out: str | Path | None = None) -> Path:
    """The FP32 source manifest (artifact = the ONNX file itself), written atomically."""
    path = Path(out) if out else manifest_path_for(inspection.path)
    model = inspection.path
    manifest = ModelManifest(
        model_id=model.stem, task=inspection.task, labels=inspection.labels, preprocess=inspection.preprocess,
        decoder=inspection.decoder(), inputs=inspection.inputs, outputs=inspection.outputs,
        artifact=ArtifactSpec(path=os.path.relpath(model.resolve(), path.resolve().parent), format="onnx",
                              sha256=file_sha256(model), size_bytes=model.stat().st_size),
        source_onnx_sha256=file_sha256(model), build={"inspected": dict(inspection.sources)},
    )
    return save_manifest(manifest, path)
