"""TorchEngine: the reference path runs a module from safetensors behind the Engine protocol."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from safetensors.torch import save_file  # noqa: E402

from edge_ai_ros.engines.base import Engine  # noqa: E402
from edge_ai_ros.engines.torch_backend import TorchEngine, load_module  # noqa: E402
from edge_ai_ros.errors import EngineError  # noqa: E402


def _factory() -> torch.nn.Module:
    return torch.nn.Conv2d(3, 3, 1, bias=False)


def _weights(tmp_path: Path, scale: float) -> Path:
    path = tmp_path / "conv.safetensors"
    save_file({"weight": torch.eye(3).reshape(3, 3, 1, 1) * scale}, str(path))
    return path


def test_module_from_safetensors_runs(tmp_path: Path) -> None:
    engine = TorchEngine(load_module(_factory, _weights(tmp_path, 2.0)), ["images"], ["features"], threads=1)
    assert isinstance(engine, Engine)
    image = np.random.default_rng(0).random((1, 3, 4, 4), dtype=np.float32)
    out = engine.infer({"images": image})
    np.testing.assert_allclose(out["features"], 2.0 * image, rtol=1e-6)
    assert (engine.info.backend, engine.info.precision) == ("torch", "fp32")
    assert engine.info.backend_version == torch.__version__
    engine.close()
    with pytest.raises(EngineError, match="closed"):
        engine.infer({"images": image})


def test_wrong_weights_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "other.safetensors"
    save_file({"bias": torch.zeros(3)}, str(path))
    with pytest.raises(EngineError, match="cannot load weights"):
        load_module(_factory, path)


def test_missing_input_and_output_count(tmp_path: Path) -> None:
    engine = TorchEngine(load_module(_factory, _weights(tmp_path, 1.0)), ["images"], ["a", "b"], threads=1)
    with pytest.raises(EngineError, match="inputs \\['images'\\] are missing"):
        engine.infer({})
    with pytest.raises(EngineError, match="returned 1 outputs, expected 2"):
        engine.infer({"images": np.zeros((1, 3, 2, 2), np.float32)})
