"""The engine-only rate on the same bag, to put the replay's frames/s in proportion.

Runs the same manifest and backend through ``edge_ai_ros.pipeline.Perception`` without ROS
on the same decoded frames: ``engine`` counts inference only, ``pipeline`` adds
preprocessing and decoding. Replay frames/s against these is what the ROS path costs.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, kw_only=True)
class EngineRate:
    frames: int
    engine_fps: float  # 1 / mean inference time
    pipeline_fps: float  # 1 / mean (preprocess + inference + postprocess)
    decode_fps: float  # 1 / mean time to decode the recorded frame to RGB


def measure_engine_rate(images: Iterable[np.ndarray | None], *, manifest: str, backend: str,
                        warmup: int = 3) -> EngineRate:
    """Time every frame once through the pipeline (after ``warmup`` runs on the first frame)."""
    from edge_ai_ros.pipeline import Perception

    perception = Perception(manifest, backend=backend)
    infer: list[float] = []
    total: list[float] = []
    decode: list[float] = []
    try:
        started = time.perf_counter()
        for image in images:
            decoded_at = time.perf_counter()
            if image is None:
                started = decoded_at
                continue
            decode.append(decoded_at - started)
            if not infer and warmup:
                for _ in range(warmup):
                    perception.run(image)
            timings = perception.run(image).timings
            infer.append(timings.inference_s)
            total.append(timings.total_s)
            started = time.perf_counter()
    finally:
        perception.close()
    return EngineRate(frames=len(infer), engine_fps=_rate(infer), pipeline_fps=_rate(total), decode_fps=_rate(decode))


def _rate(seconds: list[float]) -> float:
    mean = float(np.mean(seconds)) if seconds else 0.0
    return 1.0 / mean if mean > 0 else 0.0
