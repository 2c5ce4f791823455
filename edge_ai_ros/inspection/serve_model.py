"""From an ONNX file to a manifest the node can serve: inspect once, compile (cached), hand back.

``edge-ai-ros up --model yolov8n.onnx`` and ``ros2 launch ... model:=yolov8n.onnx`` both come
here. A manifest (``*.manifest.json``) passes through untouched. For an ``.onnx`` file the
manifest beside it is used when there is one (``edge-ai-ros inspect`` writes it, and a user may
edit it); otherwise the model is inspected and that manifest written. The engine is then
built at FP32 for the chosen backend through the content-addressed cache, so the second start
loads it without building. INT8 needs calibration frames: ``edge-ai-ros compile --calib``.
"""

from __future__ import annotations

import logging
from pathlib import Path

from edge_ai_ros.manifest import manifest_path_for

LOG = logging.getLogger(__name__)
DEFAULT_CACHE_DIR = ".cache/engines"


def is_onnx(model: str) -> bool:
    return model.lower().endswith(".onnx")


def manifest_for_serving(model: str, *, backend: str = "", cache_dir: str = DEFAULT_CACHE_DIR) -> str:
    """The manifest to serve for ``model`` (a manifest, or an .onnx file inspected and compiled)."""
    if not is_onnx(model):
        return model
    from edge_ai_ros.compiler.build import BuildOptions  # loads onnx
    from edge_ai_ros.compiler.fallback import build_with_fallback
    from edge_ai_ros.inspection.model import inspect_onnx, write_manifest

    if not manifest_path_for(model).is_file():
        written = write_manifest(inspect_onnx(model))
        LOG.info("inspected %s: wrote %s", model, written)
    result = build_with_fallback(BuildOptions(onnx_path=model, precision="fp32", backend=backend or "auto",
                                       cache_dir=cache_dir))
    LOG.info("%s %s", "cache hit" if result.cache_hit else "built", result.engine_path)
    return str(Path(result.manifest_path).resolve())
