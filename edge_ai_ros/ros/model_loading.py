"""Build, check and warm a Perception from the node's settings; describe it as ModelInfo.

Configure and the hot-swap path both come through here, so a model is served only after
its manifest was verified (artifact hash, engine specs against manifest and decoder) and
a warm-up produced finite outputs.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable
from typing import Any

import numpy as np
from rclpy.clock import Clock

from edge_ai_ros.engines.base import EngineInfo
from edge_ai_ros.engines.options import EngineOptions
from edge_ai_ros.errors import EngineError, ManifestError
from edge_ai_ros.manifest import DecoderSpec, ModelManifest, load_manifest
from edge_ai_ros.msg import ModelInfo
from edge_ai_ros.pipeline import Perception
from edge_ai_ros.ros.params import NodeSettings
from edge_ai_ros.serving.serving_check import run_serving_check


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


def retune(perception: Perception, settings: NodeSettings) -> None:
    """Apply the node's threshold parameters to a loaded model (nothing to do when they match)."""
    wanted = decoder_for(settings, perception.declared_decoder)
    if wanted != perception.manifest.decoder:
        perception.set_decoder(wanted)


def load_perception(settings: NodeSettings, manifest_path: str = "", backend: str = "",
                    pace: Callable[[], object] | None = None) -> Perception:
    """Load and warm the model (ManifestError/EngineError/ConfigError on any problem).

    ``pace`` is called before each test or warm-up run (a swap waits there for a gap between frames).
    """
    path = manifest_path or settings.model_manifest
    decoder = decoder_for(settings, load_manifest(path).decoder)
    perception = Perception(path, backend=backend or settings.backend,
                            options=EngineOptions(threads=settings.threads), decoder=decoder,
                            parallel_resize=settings.parallel_resize)
    try:
        check_built_for(perception.manifest, perception.engine_info)
        if pace is not None:
            pace()
        check_finite(perception)
        run_serving_check(perception, path)
        warm_up(perception, settings.warmup_runs, settings.warmup_budget_s, pace)
    except Exception:
        perception.close()
        raise
    return perception


def check_built_for(manifest: ModelManifest, info: EngineInfo) -> None:
    """Refuse an engine built for another backend version or device than the one that loaded it.

    A portable artifact (backend "any", e.g. a plain ONNX export) runs anywhere. One built by the
    compiler for a backend names that backend's version and device: a TensorRT plan or an INT8
    calibration is only valid there, so a mismatch is a ManifestError, never a silent reuse.
    """
    if manifest.backend in ("any", "") or manifest.backend != info.backend:
        return
    if manifest.backend_version and manifest.backend_version != info.backend_version:
        raise ManifestError(
            f"backend_version: the engine was built with {manifest.backend} {manifest.backend_version}, "
            f"this machine runs {info.backend_version}",
            fix="rebuild it here with 'edge-ai-ros compile' (engines are not portable across versions)")
    if manifest.device and manifest.device != info.device:
        raise ManifestError(
            f"device: the engine was built for {manifest.device!r}, this machine is {info.device!r}",
            fix="rebuild it on this device with 'edge-ai-ros compile'")


def warm_up(perception: Perception, runs: int, budget_s: float, pace: Callable[[], object] | None = None) -> int:
    """Run up to ``runs`` grey frames, stopping once ``budget_s`` is spent; return how many ran.

    The budget bounds how long configure (and a swap) spends warming a slow model.
    """
    spec = perception.manifest.preprocess
    frame = np.full((spec.height, spec.width, 3), spec.pad_value, np.uint8)
    deadline = time.monotonic() + budget_s
    done = 0
    while done < runs and time.monotonic() < deadline:
        if pace is not None:
            pace()
        perception.run(frame)
        done += 1
    return done


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
