"""Demo-detector weights as safetensors, with the architecture stored in the file's metadata.

safetensors holds plain tensors (no pickle), and the metadata carries the DetectorConfig,
so a file alone rebuilds the right model, teacher or student.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

from edge_ai_ros.atomic_io import atomic_write_bytes
from edge_ai_ros.errors import ConfigError
from edge_ai_ros.models.detector import Detector, DetectorConfig

CONFIG_KEY = "detector_config"


def save_detector(model: Detector, path: str | Path, *, extra: dict[str, str] | None = None) -> Path:
    """Write weights and config atomically; ``extra`` adds string metadata (e.g. training settings)."""
    from safetensors.torch import save

    tensors = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    metadata = {CONFIG_KEY: json.dumps(asdict(model.config)), **(extra or {})}
    return atomic_write_bytes(path, save(tensors, metadata=metadata))


def load_detector(path: str | Path) -> Detector:
    """Rebuild the Detector a file describes and load its weights (eval mode)."""
    from safetensors import safe_open
    from safetensors.torch import load_file

    source = Path(path)
    if not source.is_file():
        raise ConfigError("weights", f"file not found: {source}", fix="pass an existing detector .safetensors")
    with safe_open(str(source), framework="pt") as handle:
        metadata = handle.metadata() or {}
    if CONFIG_KEY not in metadata:
        raise ConfigError("weights", f"{source} has no {CONFIG_KEY} metadata",
                          fix="save it with edge_ai_ros.models.detector_weights.save_detector")
    fields = json.loads(metadata[CONFIG_KEY])
    fields = {k: tuple(v) if isinstance(v, list) else v for k, v in fields.items()}
    model = Detector(DetectorConfig(**fields))
    model.load_state_dict(load_file(str(source)))
    return model.eval()
