"""Calibration and held-out tensors from an image folder, a rosbag2 bag topic, or .npy files.

Frames are sampled evenly across the source (with a cap) and every ``holdout_every``-th
selected frame is set aside for the accuracy gate, so the gate never scores the engine on
the frames it was calibrated with. Images go through the node's own ``preprocess`` with
the model's PreprocessSpec, so calibration sees exactly what inference sees.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, UnidentifiedImageError

from edge_ai_ros.engines.base import TensorSpec
from edge_ai_ros.errors import CompileError, ConfigError, InvalidInputError
from edge_ai_ros.manifest import PreprocessSpec
from edge_ai_ros.preprocess import preprocess

METHODS = ("minmax", "entropy", "percentile")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".ppm")


@dataclass(frozen=True, kw_only=True)
class CalibrationConfig:
    """Where calibration frames come from and how many to use."""

    source: str
    topic: str = ""
    method: str = "minmax"
    percentile: float = 99.999
    max_samples: int = 64
    min_samples: int = 4
    holdout_every: int = 4

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ConfigError("calib_method", f"{self.method!r} is not one of {METHODS}", fix="pick one of them")
        if not 50.0 < self.percentile <= 100.0:
            raise ConfigError("percentile", f"{self.percentile} is outside (50, 100]", fix="use e.g. 99.99")
        if self.min_samples < 1 or self.max_samples < self.min_samples:
            raise ConfigError("max_samples", f"{self.max_samples} is below min_samples {self.min_samples}",
                              fix="raise --max-samples")
        if self.holdout_every < 2:
            raise ConfigError("holdout_every", "must be at least 2", fix="use 4 (a quarter held out)")

    def method_facts(self) -> dict[str, Any]:
        facts: dict[str, Any] = {"method": self.method}
        if self.method == "percentile":
            facts["percentile"] = self.percentile
        return facts


@dataclass(frozen=True, kw_only=True)
class CalibrationSet:
    """Preprocessed batch-1 tensors for calibration and, disjoint from them, for the gate."""

    calibration: tuple[np.ndarray, ...]
    holdout: tuple[np.ndarray, ...]
    fingerprint: str
    source_kind: str
    source: str

    def facts(self) -> dict[str, Any]:
        return {
            "source": self.source, "source_kind": self.source_kind, "sample_count": len(self.calibration),
            "holdout_count": len(self.holdout), "data_fingerprint": self.fingerprint,
        }


def evenly_spaced(count: int, cap: int) -> list[int]:
    """Indices of at most ``cap`` items spread evenly over ``count`` (first and last included)."""
    if count <= cap:
        return list(range(count))
    return sorted({round(i * (count - 1) / (cap - 1)) for i in range(cap)}) if cap > 1 else [0]


def split_holdout(items: Sequence[Any], every: int) -> tuple[list[Any], list[Any]]:
    """Every ``every``-th item (1-based) is held out; the rest calibrate."""
    calib = [x for i, x in enumerate(items) if (i + 1) % every]
    held = [x for i, x in enumerate(items) if not (i + 1) % every]
    return calib, held


def load_calibration_set(config: CalibrationConfig, spec: PreprocessSpec, input_spec: TensorSpec) -> CalibrationSet:
    """Read, sample, preprocess and split the source named in ``config``."""
    path = Path(config.source)
    if not path.exists():
        raise CompileError(f"calibration source {path} does not exist", fix="pass --calib with a folder, bag or .npy")
    cap = config.max_samples + -(-config.max_samples // (config.holdout_every - 1))
    kind, loaders = _source_loaders(path, config)
    picked = [loaders[i] for i in evenly_spaced(len(loaders), cap)]
    calib_loaders, held_loaders = split_holdout(picked, config.holdout_every)
    if len(calib_loaders) < config.min_samples or not held_loaders:
        raise CompileError(
            f"calibration source {path} is too small: {len(loaders)} {kind} frame(s); need at least "
            f"{config.min_samples} for calibration plus held-out frames (1 in {config.holdout_every})",
            fix="add frames to the source or lower --min-samples",
        )
    calib = tuple(_to_tensor(load(), spec, input_spec) for load in calib_loaders)
    held = tuple(_to_tensor(load(), spec, input_spec) for load in held_loaders)
    return CalibrationSet(calibration=calib, holdout=held, fingerprint=_fingerprint(calib, held),
                          source_kind=kind, source=str(path))


def _source_loaders(path: Path, config: CalibrationConfig) -> tuple[str, list[Callable[[], np.ndarray]]]:
    if path.is_dir() and any(p.suffix == ".npy" for p in path.iterdir()):
        return "npy", _npy_loaders(sorted(path.glob("*.npy")))
    if path.suffix == ".npy":
        return "npy", _npy_loaders([path])
    if _is_bag(path):
        from edge_ai_ros.compiler.calibration_bag import bag_frame_loaders  # rosbags only when asked

        return "rosbag2", bag_frame_loaders(path, config.topic)
    if path.is_dir():
        return "images", _image_loaders(path)
    raise CompileError(f"calibration source {path} is not an image folder, rosbag2 bag or .npy file",
                       fix="pass a folder of images, a bag folder/.mcap with --calib-topic, or a .npy file")


def _is_bag(path: Path) -> bool:
    return path.suffix in (".mcap", ".db3") or (path.is_dir() and (path / "metadata.yaml").is_file())


def _image_loaders(folder: Path) -> list[Callable[[], np.ndarray]]:
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    for p in files:
        _image_size(p)  # unreadable files are refused before any work; sizes may differ (each is letterboxed)
    return [functools.partial(_read_rgb, p) for p in files]


def _image_size(path: Path) -> tuple[int, int]:
    try:
        with Image.open(path) as img:
            return img.size
    except (OSError, UnidentifiedImageError) as err:
        raise CompileError(f"calibration image {path} cannot be read: {err}", fix="remove or replace it") from err


def _read_rgb(path: Path) -> np.ndarray:
    with Image.open(path) as img:
        return np.asarray(img.convert("RGB"))


def _npy_loaders(files: list[Path]) -> list[Callable[[], np.ndarray]]:
    loaders: list[Callable[[], np.ndarray]] = []
    for f in files:
        try:
            array = np.load(f, mmap_mode="r", allow_pickle=False)
        except (OSError, ValueError) as err:
            raise CompileError(f"calibration tensor file {f} cannot be read: {err}", fix="save it with np.save") from err
        rows = [array] if array.ndim == 3 or (array.ndim == 4 and array.shape[0] == 1) else list(array)
        loaders.extend(functools.partial(_as_sample, r) for r in rows)
    return loaders


def _as_sample(row: np.ndarray) -> np.ndarray:
    """uint8 HxWx3 rows stay images (preprocessed later); anything else is a float tensor."""
    return np.array(row) if row.dtype == np.uint8 else np.asarray(row, dtype=np.float32)


def _to_tensor(sample: np.ndarray, spec: PreprocessSpec, input_spec: TensorSpec) -> np.ndarray:
    """An RGB uint8 image goes through preprocess; a float tensor must already match the input."""
    if sample.dtype == np.uint8 and sample.ndim == 3 and sample.shape[2] == 3:
        try:
            tensor = preprocess(sample, spec)[0]
            return tensor.astype(np.float16) if input_spec.dtype == "float16" else tensor  # as the node feeds it
        except InvalidInputError as err:
            raise CompileError(f"calibration frame cannot be preprocessed: {err}", fix="check the source") from err
    tensor = sample[None] if sample.ndim == len(input_spec.shape) - 1 else sample
    fixed = [(i, d) for i, d in enumerate(input_spec.shape) if isinstance(d, int) and i > 0]
    if tensor.ndim != len(input_spec.shape) or any(tensor.shape[i] != d for i, d in fixed):
        raise CompileError(
            f"calibration tensor shape {tuple(sample.shape)} does not match input {input_spec.name} "
            f"{input_spec.shape}", fix="save preprocessed tensors with the model's input shape",
        )
    return np.ascontiguousarray(tensor, dtype=np.float32)


def _fingerprint(calib: Sequence[np.ndarray], held: Sequence[np.ndarray]) -> str:
    digest = hashlib.sha256()
    for tag, tensors in ((b"calib", calib), (b"holdout", held)):
        digest.update(tag)
        for t in tensors:
            digest.update(str(t.shape).encode())
            digest.update(np.ascontiguousarray(t).tobytes())
    return digest.hexdigest()
