"""The demo's two models: the shipped FP32 detector and the compressed INT8 one.

Where they are, whether the compressed one is shipped (``demo/ship.py`` puts it in
``assets/demo_detector_int8/``), and the facts the side-by-side table takes from their
manifests (size, parameters, held-out mAP). ``cli/demo_models.py`` compiles the INT8 one.
No rclpy, no torch, no compiler.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from edge_ai_ros.demo.ship import INT8_DIR, ONNX_NAME, REFERENCE_FOLDER
from edge_ai_ros.errors import BagError
from edge_ai_ros.manifest import load_manifest, manifest_path_for

ASSETS = INT8_DIR.parent
FP32_MANIFEST = manifest_path_for(ASSETS / "demo_detector" / "detector.onnx")
INT8_ONNX = INT8_DIR / ONNX_NAME
INT8_MANIFEST = manifest_path_for(INT8_ONNX)
INT8_REFERENCE = INT8_DIR / REFERENCE_FOLDER / ONNX_NAME
CHOICES = ("int8", "fp32")


def int8_shipped() -> bool:
    return INT8_MANIFEST.is_file() and INT8_REFERENCE.is_file()


@dataclass(frozen=True, kw_only=True)
class ModelFacts:
    """What the summary compares: the shipped file, its size and parameter count (from its manifest)."""

    label: str  # "fp32" or "int8"
    model_id: str
    manifest: Path  # the shipped manifest
    precision: str
    size_bytes: int  # the shipped ONNX file
    parameters: int | None  # build.parameters; None where a manifest lacks it
    heldout_map50: float | None  # accuracy.map in the manifest (generated held-out scenes)

    @classmethod
    def of(cls, label: str, manifest_path: Path) -> ModelFacts:
        m = load_manifest(manifest_path)
        params = m.build.get("parameters")
        held = (m.accuracy or {}).get("map")
        return cls(label=label, model_id=m.model_id, manifest=manifest_path, precision=m.precision,
                   size_bytes=m.artifact.size_bytes, parameters=int(params) if params is not None else None,
                   heldout_map50=float(held) if held is not None else None)


def first_image_topic(bag: str | Path) -> str:
    """The bag's first Image/CompressedImage topic (what camera_source replays by default)."""
    from edge_ai_ros.bags.source import COMPRESSED, IMAGE, open_reader

    with open_reader(Path(bag)) as reader:
        topics = [c.topic for c in reader.connections if c.msgtype in (IMAGE, COMPRESSED)]
    if not topics:
        raise BagError(f"bag {bag} has no image topic", fix="replay a bag with sensor_msgs Image/CompressedImage")
    return topics[0]
