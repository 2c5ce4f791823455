"""weights_io: safetensors round trip, pruned shapes, and refusal of code-running pickles."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch
from torch import nn

from edge_ai_ros.compression.weights_io import load_weights, load_weights_into, save_weights
from edge_ai_ros.errors import ConfigError, UnsafeWeightsError


class _RunsCode:
    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.system, ("true",))


def _small() -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(3, 16, 3), nn.BatchNorm2d(16), nn.ReLU(), nn.Conv2d(16, 4, 1))


def test_safetensors_round_trip_restores_values(tmp_path: Path) -> None:
    model = _small()
    path = save_weights(model, tmp_path / "w.safetensors")
    restored = load_weights_into(_small(), load_weights(path))
    for key, value in model.state_dict().items():
        assert torch.equal(restored.state_dict()[key], value)


def test_pruned_shapes_are_restored_into_a_default_model(tmp_path: Path) -> None:
    narrow = nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), nn.ReLU(), nn.Conv2d(8, 4, 1))
    save_weights(narrow, tmp_path / "narrow.safetensors")
    model = load_weights_into(_small(), load_weights(tmp_path / "narrow.safetensors"))
    assert model[0].out_channels == 8 and model[3].in_channels == 8
    assert model(torch.rand(1, 3, 8, 8)).shape == (1, 4, 6, 6)


def test_plain_state_dict_checkpoint_loads_weights_only(tmp_path: Path) -> None:
    torch.save(_small().state_dict(), tmp_path / "w.pt")
    assert "0.weight" in load_weights(tmp_path / "w.pt")


def test_malicious_pickle_is_refused_and_not_run(tmp_path: Path) -> None:
    torch.save({"0.weight": torch.zeros(2), "payload": _RunsCode()}, tmp_path / "evil.pt")
    with pytest.raises(UnsafeWeightsError, match=r"refused.*system.*arbitrary code"):
        load_weights(tmp_path / "evil.pt")


def test_unknown_suffix_and_missing_file_are_config_errors(tmp_path: Path) -> None:
    (tmp_path / "w.pkl").write_bytes(b"x")
    with pytest.raises(ConfigError, match="unknown weights format"):
        load_weights(tmp_path / "w.pkl")
    with pytest.raises(ConfigError, match="file not found"):
        load_weights(tmp_path / "missing.safetensors")
