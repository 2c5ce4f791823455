"""Build, check and warm a Perception from the node's settings; describe it as ModelInfo.

Configure and the hot-swap path both come through here, so a model is served only after
its manifest was verified (artifact hash, engine specs against manifest and decoder) and
a warm-up produced finite outputs.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import numpy as np
from rclpy.clock import Clock

from edge_ai_ros.engines.options import EngineOptions
from edge_ai_ros.errors import EngineError
from edge_ai_ros.manifest import DecoderSpec, load_manifest
from edge_ai_ros.msg import ModelInfo
from edge_ai_ros.pipeline import Perception
from edge_ai_ros.ros.params import NodeSettings


def decoder_for(settings: NodeSettings, spec: DecoderSpec) -> DecoderSpec:
    """The manifest's decoder spec with the node's threshold parameters applied (unset ones kept)."""
    changes: dict[str, Any] = {}
    if settings.score_threshold >= 0.0:
        changes["score_threshold"] = settings.score_threshold
    if settings.iou_threshold >= 0.0:
        changes["iou_threshold"] = settings.iou_threshold
    if settings.max_detections > 0:
        changes["max_detections"] = settings.max_detections
    if settings.top_k > 0:
        changes["top_k"] = settings.top_k
    return dataclasses.replace(spec, **changes)


def load_perception(settings: NodeSettings, manifest_path: str = "", backend: str = "") -> Perception:
    """Load and warm the model (ManifestError/EngineError/ConfigError on any problem)."""
    path = manifest_path or settings.model_manifest
    decoder = decoder_for(settings, load_manifest(path).decoder)
    perception = Perception(path, backend=backend or settings.backend,
                            options=EngineOptions(threads=settings.threads), decoder=decoder)
    try:
        check_finite(perception)
        perception.warmup(settings.warmup_runs)
    except Exception:
        perception.close()
        raise
    return perception


def check_finite(perception: Perception) -> None:
    """Run one grey frame and refuse a model whose results are not finite numbers."""
    spec = perception.manifest.preprocess
    result = perception.run(np.full((spec.height, spec.width, 3), spec.pad_value, np.uint8))
    values = [v for d in result.detections for v in (d.score, *d.box)]
    if result.classification is not None:
        values += list(result.classification.scores)
    if not np.all(np.isfinite(np.asarray(values, dtype=np.float64))):
        raise EngineError(f"model {perception.model_id} produced non-finite results on a test frame",
                          fix="check the engine (a broken INT8 calibration or fp16 overflow?)")


def model_info_msg(perception: Perception, manifest_path: str, clock: Clock) -> ModelInfo:
    manifest, info = perception.manifest, perception.engine_info
    return ModelInfo(
        model_id=manifest.model_id, manifest_path=str(manifest_path), task=manifest.task,
        precision=info.precision, backend=info.backend, backend_version=info.backend_version,
        device=info.device, labels=list(manifest.labels),
        accuracy_json=json.dumps(dict(manifest.accuracy or {}), sort_keys=True, default=str),
        loaded_at=clock.now().to_msg(),
    )
