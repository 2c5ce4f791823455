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
from edge_ai_ros.errors import ManifestError
from edge_ai_ros.manifest_schema import ARTIFACT_FORMATS as ARTIFACT_FORMATS
from edge_ai_ros.manifest_schema import DETECTION_LAYOUTS as DETECTION_LAYOUTS
from edge_ai_ros.manifest_schema import PRECISIONS as PRECISIONS
from edge_ai_ros.manifest_schema import TASKS as TASKS
from edge_ai_ros.manifest_schema import validate_manifest_data
from edge_ai_ros.tensors import TensorSpec

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
    # where the letterboxed image sits: "center" (Ultralytics) or "top_left" (YOLOX reference code)
    letterbox_position: str = "center"

    def __post_init__(self) -> None:
        if self.letterbox_position not in ("center", "top_left"):
            raise ManifestError(f"preprocess.letterbox_position must be 'center' or 'top_left', "
                                f"got {self.letterbox_position!r}")
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

    kind: "yolo" (detection; ``layout`` names the exporter's output layout, docs/detectors.md),
    "classification" ([N, C] logits or probabilities), "segmentation" ([N, C, H, W] logits).
    """

    kind: str
    score_threshold: float = 0.25
    iou_threshold: float = 0.45
    max_detections: int = 100
    top_k: int = 5
    output: str = ""  # output tensor to decode; "" = the first output
    layout: str = "yolov5"  # yolo only: one of DETECTION_LAYOUTS (docs/detectors.md)
    # classification: "softmax" (logits), "none" (probabilities), "auto"; detection layouts with
    # class scores: "sigmoid" or "softmax" (logits), "none" (scores), "auto" (the layout's default)
    activation: str = "auto"
    # detection layouts beyond yolov5/yolov8 (docs/detectors.md)
    outputs: tuple[str, ...] = ()  # output tensors a multi-output layout reads, in its order; () = found
    box_format: str = ""  # "xyxy", "cxcywh" or "yxyx", "_norm" suffix when 0-1; "" = the layout's
    background_class: bool = False  # ssd: score column 0 is background (labels exclude it)
    mask_threshold: float = 0.5  # instance masks: sigmoid(mask) above this is the instance

    def __post_init__(self) -> None:
        if self.layout not in DETECTION_LAYOUTS:
            raise ManifestError(f"decoder.layout must be one of {', '.join(DETECTION_LAYOUTS)}, got {self.layout!r}")
        if self.activation not in ("auto", "softmax", "none", "sigmoid"):
            raise ManifestError(
                f"decoder.activation must be 'auto', 'softmax', 'sigmoid' or 'none', got {self.activation!r}")
        if self.box_format and self.box_format.removesuffix("_norm") not in ("xyxy", "cxcywh", "yxyx"):
            raise ManifestError(f"decoder.box_format must be xyxy, cxcywh or yxyx (optionally _norm), "
                                f"got {self.box_format!r}")
        object.__setattr__(self, "outputs", tuple(str(n) for n in self.outputs))


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
    # CPU features the artifact was built and checked on, and the capabilities it needs
    # (edge_ai_ros.host.host_record); None for artifacts that run on any CPU
    host: Mapping[str, Any] | None = None
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
                host=data.get("host"),
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
