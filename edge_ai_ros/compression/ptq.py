"""Post-training INT8 through the compiler (its calibration, its accuracy gate): no second
implementation here. This module only supplies calibration frames and collects the engine.

Calibration frames are generated training-split scenes (never the evaluation split that
mAP is scored on), saved as uint8 RGB images in .npy so the compiler preprocesses them
with the manifest's PreprocessSpec, exactly as the node will.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edge_ai_ros.atomic_io import atomic_output_path


def write_calibration_frames(folder: Path, *, count: int, seed: int) -> Path:
    """``count`` RGB uint8 scenes of split "train" as one .npy file in ``folder``."""
    from edge_ai_ros.demo.scene import scene_at

    frames = np.stack([scene_at("train", seed, index).image for index in range(count)])
    path = folder / "calibration_frames.npy"
    folder.mkdir(parents=True, exist_ok=True)
    with atomic_output_path(path) as tmp, open(tmp, "wb") as handle:
        np.save(handle, frames, allow_pickle=False)
    return path


def compile_int8(onnx_path: Path, out_dir: Path, *, backend: str, images: int, seed: int) -> Path:
    """Build an INT8 engine of ``onnx_path`` (its manifest beside it) into ``out_dir``; returns it."""
    from edge_ai_ros.compiler.build import BuildOptions, build_engine
    from edge_ai_ros.compiler.calibration_data import CalibrationConfig

    calib_dir = write_calibration_frames(out_dir / "calibration", count=images, seed=seed).parent
    options = BuildOptions(
        onnx_path=str(onnx_path), precision="int8", backend=backend,
        calibration=CalibrationConfig(source=str(calib_dir), max_samples=images, min_samples=min(4, images)),
        cache_dir=str(out_dir / "cache"), out_dir=str(out_dir),
    )
    result = build_engine(options)
    return result.engine_path
