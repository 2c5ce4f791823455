"""The serving check: a model must find what its manifest says it finds on its own check frame.

A model can load, run and return finite numbers and still be useless: a broken engine or a
wrong normalisation makes a detector find nothing, on every frame, while the node reports
"serving". A manifest may therefore carry a check: a frame (a PNG next to it, hashed like the
artifact files) and how many detections the model must produce on it (``min_results``). Load
and every swap run it with the thresholds the manifest declares and refuse the model when it
finds fewer.

Only detection has such a check. A classifier always returns its top-k and a segmenter always a
mask, so "produces nothing" cannot happen to them, and whether the answer is right needs labels
that only the model's author has (the compiler's accuracy gate checks that against FP32).
A manifest without ``check`` skips it (the finite-outputs check still runs).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from edge_ai_ros.artifact_files import resolve_inside
from edge_ai_ros.atomic_io import file_sha256
from edge_ai_ros.errors import EngineError, ManifestError
from edge_ai_ros.pipeline import Perception


def load_check_frame(manifest_file: str | Path, check: dict[str, object]) -> np.ndarray:
    """The check frame as RGB uint8, after its hash was compared with the manifest's."""
    path = resolve_inside(Path(manifest_file).parent, str(check["frame"]), field="check.frame")
    if not path.is_file() or file_sha256(path) != check["sha256"]:
        raise ManifestError(f"check.frame {path} is missing or does not match its manifest {manifest_file}",
                            fix="copy the check frame next to the manifest, or rebuild the model")
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


def run_serving_check(perception: Perception, manifest_file: str | Path) -> int:
    """Refuse (EngineError) a detector that finds fewer objects than ``check.min_results``; return the count."""
    check = perception.manifest.check
    if not check or perception.manifest.task != "detection":
        return -1
    frame = load_check_frame(manifest_file, dict(check))
    wanted = perception.manifest.decoder
    perception.set_decoder(perception.declared_decoder)  # the manifest's thresholds, not live overrides
    try:
        found = len(perception.run(frame).detections)
    finally:
        perception.set_decoder(wanted)
    needed = int(str(check["min_results"]))
    if found < needed:
        raise EngineError(
            f"model {perception.model_id} found {found} objects on its check frame {check['frame']}, "
            f"its manifest expects at least {needed}",
            fix="the engine or its preprocessing is broken (a bad INT8 calibration, wrong mean/std?); rebuild it",
        )
    return found
