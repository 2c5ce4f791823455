"""Post-training INT8 through the compiler (its calibration, its accuracy gate): no second
implementation here. This module only supplies calibration tensors and collects the engine.

Calibration tensors are model inputs drawn from the training data (never the evaluation data
the metric is scored on), saved as float32 [N, ...] in one .npy file, which the compiler feeds
to the model as they are. The compiler holds a share of them out for its accuracy gate.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np
import torch

from edge_ai_ros.atomic_io import atomic_output_path
from edge_ai_ros.compression.task import split_batch
from edge_ai_ros.errors import ConfigError


def write_calibration_tensors(folder: Path, data: Iterable[object], *, count: int) -> Path:
    """The first ``count`` inputs of ``data`` (batches of (inputs, targets)) as one .npy file in ``folder``."""
    rows: list[np.ndarray] = []
    for batch in data:
        inputs = split_batch(batch, "data.train")[0]
        rows.extend(np.asarray(x, np.float32) for x in inputs.detach().to(torch.float32).numpy())
        if len(rows) >= count:
            break
    if not rows:
        raise ConfigError("data.train", "gave no batches for PTQ calibration", fix="return a non-empty data set")
    path = folder / "calibration_tensors.npy"
    folder.mkdir(parents=True, exist_ok=True)
    with atomic_output_path(path) as tmp, open(tmp, "wb") as handle:
        np.save(handle, np.stack(rows[:count]), allow_pickle=False)
    return path


def compile_int8(onnx_path: Path, out_dir: Path, data: Iterable[object], *, backend: str, count: int) -> Path:
    """Build an INT8 engine of ``onnx_path`` (its manifest beside it) into ``out_dir``; returns it."""
    from edge_ai_ros.compiler.build import BuildOptions, build_engine
    from edge_ai_ros.compiler.calibration_data import CalibrationConfig

    calib_dir = write_calibration_tensors(out_dir / "calibration", data, count=count).parent
    options = BuildOptions(
        onnx_path=str(onnx_path), precision="int8", backend=backend,
        calibration=CalibrationConfig(source=str(calib_dir), max_samples=count, min_samples=min(4, count)),
        cache_dir=str(out_dir / "cache"), out_dir=str(out_dir),
    )
    return build_engine(options).engine_path
