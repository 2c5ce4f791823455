"""Manifests are validated as data against one JSON Schema, wherever they are read or built."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
from tiny_models import detector_manifest

from edge_ai_ros.errors import ManifestError
from edge_ai_ros.manifest import DecoderSpec, load_manifest
from edge_ai_ros.manifest_schema import schema_json

DOCS_SCHEMA = Path(__file__).resolve().parents[2] / "docs" / "manifest.schema.json"


def _edited(tmp_path: Path, section: str, key: str, value: Any) -> Path:
    path = detector_manifest(tmp_path)
    data = json.loads(path.read_text())
    data[section][key] = value
    path.write_text(json.dumps(data))  # json writes NaN/Infinity as Python's json reads them
    return path


@pytest.mark.parametrize(("section", "key", "value", "field"), [
    ("decoder", "score_threshold", math.nan, r"decoder\.score_threshold: NaN is not of type 'number'"),
    ("decoder", "score_threshold", -5, r"decoder\.score_threshold: -5 is less than the minimum of 0"),
    ("decoder", "iou_threshold", 1.5, r"decoder\.iou_threshold: 1\.5 is greater than the maximum of 1"),
    ("decoder", "max_detections", 100_000_000, r"decoder\.max_detections: 100000000 is greater than"),
    ("preprocess", "std", [1e-300, 1.0, 1.0], r"preprocess\.std\[0\]: 1e-300 is less than the minimum of 1e-06"),
    ("preprocess", "std", [1.0, math.inf, 1.0], r"preprocess\.std\[1\]: Infinity is not of type 'number'"),
    ("preprocess", "width", 1 << 20, r"preprocess\.width: 1048576 is greater than the maximum of 16384"),
    ("artifact", "sha256", "abc", r"artifact\.sha256: 'abc' does not match"),
])
def test_out_of_range_manifest_is_refused_at_load_naming_the_field(
    tmp_path: Path, section: str, key: str, value: Any, field: str,
) -> None:
    with pytest.raises(ManifestError, match=field):
        load_manifest(_edited(tmp_path, section, key, value))


def test_a_manifest_built_in_python_is_held_to_the_same_ranges(tmp_path: Path) -> None:
    manifest = load_manifest(detector_manifest(tmp_path))
    with pytest.raises(ManifestError, match=r"decoder\.score_threshold: NaN"):
        manifest.with_updates(decoder=DecoderSpec(kind="yolo", score_threshold=math.nan))


def test_a_valid_manifest_passes(tmp_path: Path) -> None:
    assert load_manifest(detector_manifest(tmp_path)).decoder.score_threshold == 0.25


def test_published_schema_is_current() -> None:
    assert DOCS_SCHEMA.read_text(encoding="utf-8") == schema_json(), (
        "regenerate it: python -m edge_ai_ros.manifest_schema > docs/manifest.schema.json")
