"""The manifest that travels with every engine artifact.

It says what the artifact was built from (source ONNX hash), how (precision, backend and
version, device, calibration, builder flags), how to feed it (preprocessing, input specs)
and how to read its outputs (decoder, labels). The node reads everything it needs from
here, and a mismatch with the artifact or this machine is reported, never crashed on.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from edge_ai_ros.artifact_files import ArtifactFile, resolve_inside, verify_files
from edge_ai_ros.atomic_io import atomic_write_text
from edge_ai_ros.engines.base import TensorSpec
from edge_ai_ros.errors import ManifestError
from edge_ai_ros.manifest_schema import ARTIFACT_FORMATS as ARTIFACT_FORMATS
from edge_ai_ros.manifest_schema import PRECISIONS as PRECISIONS
from edge_ai_ros.manifest_schema import TASKS as TASKS
from edge_ai_ros.manifest_schema import validate_manifest_data

SCHEMA_VERSION = 1


@dataclass(frozen=True, kw_only=True)
class PreprocessSpec:
    """How an RGB uint8 image becomes the model's input tensor (the node and calibration share it)."""

    width: int
    height: int
    letterbox: bool = True
    pad_value: int = 114
    mean: tuple[float, float, float] = (0.0, 0.0, 0.0)
    std: tuple[float, float, float] = (1.0, 1.0, 1.0)
    scale: float = 1.0 / 255.0  # applied before mean/std
    channel_order: str = "rgb"  # or "bgr"
    layout: str = "nchw"  # or "nhwc"
    # "bilinear": Pillow's antialiased bilinear. "fast": box-reduce by the integer part of the
    # scale first, then bilinear (about 6x faster for a 2x downscale; train with the same one).
    resample: str = "bilinear"

    def __post_init__(self) -> None:
        if self.resample not in ("bilinear", "fast"):
            raise ManifestError(f"preprocess.resample must be 'bilinear' or 'fast', got {self.resample!r}")
        if self.width <= 0 or self.height <= 0:
            raise ManifestError(f"preprocess size must be positive, got {self.width}x{self.height}")
        if self.channel_order not in ("rgb", "bgr"):
            raise ManifestError(f"preprocess.channel_order must be 'rgb' or 'bgr', got {self.channel_order!r}")
        if self.layout not in ("nchw", "nhwc"):
            raise ManifestError(f"preprocess.layout must be 'nchw' or 'nhwc', got {self.layout!r}")
        if any(s == 0 for s in self.std):
            raise ManifestError("preprocess.std must not contain 0")


@dataclass(frozen=True, kw_only=True)
class DecoderSpec:
    """Which decoder turns raw outputs into results, with its thresholds.

    kind: "yolo" (detection, [N, A, 5 + C] boxes cx,cy,w,h in input pixels, objectness and
    class scores already sigmoided), "classification" ([N, C] logits or probabilities),
    "segmentation" ([N, C, H, W] logits).
    """

    kind: str
    score_threshold: float = 0.25
    iou_threshold: float = 0.45
    max_detections: int = 100
    top_k: int = 5
    output: str = ""  # output tensor to decode; "" = the first output
    layout: str = "yolov5"  # yolo only: "yolov5" = [N, A, 5 + C]; "yolov8" = [N, 4 + C, A], no objectness
    activation: str = "auto"  # classification only: "softmax" (logits), "none" (probabilities), "auto"

    def __post_init__(self) -> None:
        if self.layout not in ("yolov5", "yolov8"):
            raise ManifestError(f"decoder.layout must be 'yolov5' or 'yolov8', got {self.layout!r}")
        if self.activation not in ("auto", "softmax", "none"):
            raise ManifestError(f"decoder.activation must be 'auto', 'softmax' or 'none', got {self.activation!r}")


@dataclass(frozen=True, kw_only=True)
class ArtifactSpec:
    path: str  # relative to the manifest's directory
    format: str
    sha256: str
    size_bytes: int
    # every file of the artifact with its hash (artifact_files.py); () in manifests that predate it
    files: tuple[ArtifactFile, ...] = ()


@dataclass(frozen=True, kw_only=True)
class ModelManifest:
    """Everything known about one engine artifact. Serialised as JSON next to it."""

    model_id: str
    task: str
    labels: tuple[str, ...]
    preprocess: PreprocessSpec
    decoder: DecoderSpec
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    artifact: ArtifactSpec
    source_onnx_sha256: str
    precision: str = "fp32"
    backend: str = "any"  # "any" means a portable ONNX artifact any ONNX backend may run
    backend_version: str = ""
    device: str = ""  # "" = any device; else as engines report it (see EngineInfo.device)
    calibration: Mapping[str, Any] | None = None
    accuracy: Mapping[str, Any] | None = None
    build: Mapping[str, Any] = field(default_factory=dict)
    schema_version: int = SCHEMA_VERSION
    check: Mapping[str, Any] | None = None  # the serving check (serving_check.py)

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise ManifestError(f"task must be one of {TASKS}, got {self.task!r}")
        if self.precision not in PRECISIONS:
            raise ManifestError(f"precision must be one of {PRECISIONS}, got {self.precision!r}")
        if self.artifact.format not in ARTIFACT_FORMATS:
            raise ManifestError(f"artifact.format must be one of {ARTIFACT_FORMATS}, got {self.artifact.format!r}")
        if not self.inputs:
            raise ManifestError("a manifest needs at least one input spec")
        validate_manifest_data(self.to_dict(), origin=f"manifest of {self.model_id!r}")

    # ---- serialisation -------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["inputs"] = [t.to_dict() for t in self.inputs]
        data["outputs"] = [t.to_dict() for t in self.outputs]
        data["labels"] = list(self.labels)
        return data

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ModelManifest:
        validate_manifest_data(data)
        try:
            version = int(data.get("schema_version", 0))
            if version != SCHEMA_VERSION:
                raise ManifestError(
                    f"manifest schema_version {version} is not supported (this package reads {SCHEMA_VERSION})",
                )
            pre = dict(data["preprocess"])
            for key in ("mean", "std"):
                if key in pre:
                    pre[key] = tuple(float(v) for v in pre[key])
            return cls(
                model_id=str(data["model_id"]),
                task=str(data["task"]),
                labels=tuple(str(x) for x in data.get("labels", ())),
                preprocess=PreprocessSpec(**pre),
                decoder=DecoderSpec(**data["decoder"]),
                inputs=tuple(TensorSpec.from_dict(t) for t in data["inputs"]),
                outputs=tuple(TensorSpec.from_dict(t) for t in data.get("outputs", ())),
                artifact=ArtifactSpec(**{**data["artifact"], "files": tuple(
                    ArtifactFile.from_dict(f) for f in data["artifact"].get("files", ()))}),
                source_onnx_sha256=str(data["source_onnx_sha256"]),
                precision=str(data.get("precision", "fp32")),
                backend=str(data.get("backend", "any")),
                backend_version=str(data.get("backend_version", "")),
                device=str(data.get("device", "")),
                calibration=data.get("calibration"),
                accuracy=data.get("accuracy"),
                build=dict(data.get("build", {})),
                check=data.get("check"),
                schema_version=version,
            )
        except ManifestError:
            raise
        except (KeyError, TypeError, ValueError) as err:
            raise ManifestError(
                f"manifest is malformed: {type(err).__name__}: {err}",
                fix="regenerate it with 'edge-ai-ros compile' or fix the named field",
            ) from err

    def with_updates(self, **changes: Any) -> ModelManifest:
        return replace(self, **changes)


def manifest_path_for(artifact: str | Path) -> Path:
    """The conventional manifest location next to an artifact: ``<artifact>.manifest.json``."""
    return Path(f"{artifact}.manifest.json")


def load_manifest(path: str | Path) -> ModelManifest:
    path = Path(path)
    if not path.is_file():
        raise ManifestError(f"manifest not found: {path}", fix="pass the path of an existing *.manifest.json")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ManifestError(f"cannot read manifest {path}: {err}", fix="regenerate the manifest") from err
    if not isinstance(data, dict):
        raise ManifestError(f"manifest {path} is not a JSON object", fix="regenerate the manifest")
    return ModelManifest.from_dict(data)


def save_manifest(manifest: ModelManifest, path: str | Path) -> Path:
    return atomic_write_text(path, manifest.to_json())


def artifact_path(manifest: ModelManifest, manifest_file: str | Path) -> Path:
    """The artifact's path, resolved inside the manifest's folder (or an allowed root, artifact_files.py)."""
    return resolve_inside(Path(manifest_file).parent, manifest.artifact.path, field="artifact.path")


def verify_artifact(manifest: ModelManifest, manifest_file: str | Path) -> Path:
    """Check that every artifact file exists and holds the bytes the manifest describes (ManifestError)."""
    path = artifact_path(manifest, manifest_file)
    a = manifest.artifact
    main = ArtifactFile(path=a.path, sha256=a.sha256, size_bytes=a.size_bytes)
    if a.files and main not in a.files:
        raise ManifestError(f"artifact.files: {manifest_file} lists {a.path} with another hash or size than "
                            "artifact.sha256/size_bytes", fix="regenerate the manifest with 'edge-ai-ros compile'")
    verify_files(a.files or (main,), folder=Path(manifest_file).parent, main=path, fmt=a.format,
                 manifest_file=manifest_file)
    return path
