"""The manifest's JSON Schema: the one source of truth for every field's type and range.

Every manifest is checked against it when it is read (``ModelManifest.from_dict``) and when
one is built in Python (``ModelManifest.__post_init__``, so a decoder retuned by node
parameters is held to the same ranges). Numbers must be finite: JSON's NaN/Infinity (which
Python's json module accepts) are turned into strings before validation, so they fail the
``number`` type at their field. The schema is published for users as
``docs/manifest.schema.json`` (``python -m edge_ai_ros.manifest_schema`` writes it; a test
keeps it current). Sections stay open to new keys so that newer optional fields do not
break older readers; the dataclasses refuse keys they do not know.
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Mapping
from typing import Any

from jsonschema import Draft202012Validator

from edge_ai_ros.errors import ManifestError

TASKS = ("detection", "classification", "segmentation")
PRECISIONS = ("fp32", "fp16", "bf16", "int8")
ARTIFACT_FORMATS = ("onnx", "openvino_ir", "tensorrt_plan", "torch_safetensors")
DECODER_KINDS = ("yolo", "classification", "segmentation")
DETECTION_LAYOUTS = ("yolov5", "yolov8", "yolox", "yolox_raw", "yolov10", "rtdetr", "ssd", "onnx_nms",
                     "efficient_nms", "yolov8_seg")

MAX_SIDE = 16384  # input width/height, pixels
MAX_DETECTIONS = 10_000
MAX_LABELS = 100_000
MAX_TENSORS = 64
MAX_FILES = 1024
MAX_ARTIFACT_BYTES = 1 << 40  # 1 TiB
MIN_STD = 1e-6

_SHA256 = {"type": "string", "pattern": "^[0-9a-f]{64}$"}
_NAME = {"type": "string", "minLength": 1, "maxLength": 256}
_BOUNDED = {"type": "number", "minimum": -1e6, "maximum": 1e6}
_FILE = {
    "type": "object", "required": ["path", "sha256", "size_bytes"],
    "properties": {"path": {"type": "string", "minLength": 1, "maxLength": 4096}, "sha256": _SHA256,
                   "size_bytes": {"type": "integer", "minimum": 0, "maximum": MAX_ARTIFACT_BYTES}},
}
_TENSOR = {
    "type": "object", "required": ["name", "dtype"],
    "properties": {"name": _NAME, "dtype": {"type": "string", "maxLength": 32},
                   "shape": {"type": "array", "maxItems": 8, "items": {
                       "anyOf": [{"type": "integer", "minimum": 0, "maximum": 1 << 31}, {"type": "string"}]}}},
}
_PREPROCESS = {
    "type": "object", "required": ["width", "height"],
    "properties": {
        "width": {"type": "integer", "minimum": 1, "maximum": MAX_SIDE},
        "height": {"type": "integer", "minimum": 1, "maximum": MAX_SIDE},
        "letterbox": {"type": "boolean"},
        "pad_value": {"type": "integer", "minimum": 0, "maximum": 255},
        "mean": {"type": "array", "minItems": 3, "maxItems": 3, "items": _BOUNDED},
        "std": {"type": "array", "minItems": 3, "maxItems": 3,
                "items": {"type": "number", "minimum": MIN_STD, "maximum": 1e6}},
        "scale": {"type": "number", "exclusiveMinimum": 0, "maximum": 1e6},
        "channel_order": {"enum": ["rgb", "bgr"]},
        "layout": {"enum": ["nchw", "nhwc"]},
        "resample": {"enum": ["bilinear", "fast"]},
        "letterbox_position": {"enum": ["center", "top_left"]},
    },
}
_DECODER = {
    "type": "object", "required": ["kind"],
    "properties": {
        "kind": {"enum": list(DECODER_KINDS)},
        "score_threshold": {"type": "number", "minimum": 0, "maximum": 1},
        "iou_threshold": {"type": "number", "minimum": 0, "maximum": 1},
        "max_detections": {"type": "integer", "minimum": 1, "maximum": MAX_DETECTIONS},
        "top_k": {"type": "integer", "minimum": 1, "maximum": 1000},
        "output": {"type": "string", "maxLength": 256},
        "layout": {"enum": list(DETECTION_LAYOUTS)},
        "activation": {"enum": ["auto", "softmax", "none", "sigmoid"]},
        "outputs": {"type": "array", "maxItems": MAX_TENSORS, "items": {"type": "string", "maxLength": 256}},
        "box_format": {"enum": ["", "xyxy", "cxcywh", "yxyx", "xyxy_norm", "cxcywh_norm", "yxyx_norm"]},
        "background_class": {"type": "boolean"},
        "mask_threshold": {"type": "number", "minimum": 0, "maximum": 1},
    },
}
_ARTIFACT = {
    "type": "object", "required": ["path", "format", "sha256", "size_bytes"],
    "properties": {
        "path": {"type": "string", "minLength": 1, "maxLength": 4096},
        "format": {"enum": list(ARTIFACT_FORMATS)},
        "sha256": _SHA256,
        "size_bytes": {"type": "integer", "minimum": 0, "maximum": MAX_ARTIFACT_BYTES},
        "files": {"type": "array", "maxItems": MAX_FILES, "items": _FILE},
    },
}

SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": "https://edge-ai-ros.dev/schemas/model-manifest.schema.json",
    "title": "edge_ai_ros model manifest",
    "description": "Describes one engine artifact: its files and hashes, how to feed it and how to read it.",
    "type": "object",
    "required": ["model_id", "task", "preprocess", "decoder", "inputs", "artifact", "source_onnx_sha256"],
    "properties": {
        "schema_version": {"type": "integer", "minimum": 0},
        "model_id": _NAME,
        "task": {"enum": list(TASKS)},
        "labels": {"type": "array", "maxItems": MAX_LABELS, "items": {"type": "string", "maxLength": 256}},
        "preprocess": _PREPROCESS,
        "decoder": _DECODER,
        "inputs": {"type": "array", "minItems": 1, "maxItems": MAX_TENSORS, "items": _TENSOR},
        "outputs": {"type": "array", "maxItems": MAX_TENSORS, "items": _TENSOR},
        "artifact": _ARTIFACT,
        "source_onnx_sha256": {"type": "string", "maxLength": 64},
        "precision": {"enum": list(PRECISIONS)},
        "backend": {"type": "string", "maxLength": 64},
        "backend_version": {"type": "string", "maxLength": 256},
        "device": {"type": "string", "maxLength": 1024},
        "calibration": {"type": ["object", "null"]},
        "accuracy": {"type": ["object", "null"]},
        "build": {"type": "object"},
        "host": {"type": ["object", "null"]},
        "check": {"type": ["object", "null"], "required": ["frame", "sha256", "min_results"], "properties": {
            "frame": {"type": "string", "minLength": 1, "maxLength": 4096}, "sha256": _SHA256,
            "min_results": {"type": "integer", "minimum": 1, "maximum": MAX_DETECTIONS}}},
    },
}
_VALIDATOR = Draft202012Validator(SCHEMA)


def _finite_only(value: Any) -> Any:
    """A JSON-like copy where NaN/Infinity become strings (so they fail 'number') and tuples lists."""
    if isinstance(value, float) and not math.isfinite(value):
        return repr(value)
    if isinstance(value, Mapping):
        return {str(k): _finite_only(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite_only(v) for v in value]
    return value


def _field(path: Any) -> str:
    parts = [f"[{p}]" if isinstance(p, int) else f".{p}" for p in path]
    return "".join(parts).lstrip(".") or "manifest"


def validate_manifest_data(data: Mapping[str, Any], *, origin: str = "") -> None:
    """Raise ManifestError naming the field (e.g. ``decoder.score_threshold``) of the first violation."""
    errors = sorted(_VALIDATOR.iter_errors(_finite_only(data)), key=lambda e: list(map(str, e.absolute_path)))
    if not errors:
        return
    first = errors[0]
    where = f" in {origin}" if origin else ""
    message = first.message.replace("'nan'", "NaN").replace("'inf'", "Infinity").replace("'-inf'", "-Infinity")
    raise ManifestError(
        f"{_field(first.absolute_path)}: {message}{where}",
        fix="give the field a value in its range (see docs/manifest.schema.json) or regenerate the manifest",
    )


def schema_json() -> str:
    """The published JSON Schema text (docs/manifest.schema.json)."""
    return json.dumps(SCHEMA, indent=2) + "\n"


if __name__ == "__main__":
    sys.stdout.write(schema_json())
