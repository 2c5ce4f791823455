"""The demo detector's graph: output layout, decoding, size, configs for teachers and students."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from edge_ai_ros.errors import ConfigError
from edge_ai_ros.models.detector import STRIDES, Detector, DetectorConfig, anchor_points, count_parameters, num_anchors
from edge_ai_ros.models.detector_weights import load_detector, save_detector


def test_forward_layout() -> None:
    model = Detector().eval()
    with torch.no_grad():
        out = model(torch.rand(2, 3, 320, 320))
    assert out.shape == (2, num_anchors(320), 8) and num_anchors(320) == 2100
    assert torch.all(out[..., 2:4] > 0)  # w, h positive
    assert torch.all((out[..., 4:] >= 0) & (out[..., 4:] <= 1))  # obj and classes are probabilities


def test_raw_levels_and_anchor_centres() -> None:
    raw = Detector().forward_raw(torch.zeros(1, 3, 320, 320))
    assert [tuple(r.shape[-2:]) for r in raw] == [(320 // s, 320 // s) for s in STRIDES]
    points, strides = anchor_points(raw)
    assert points[0].tolist() == [4.0, 4.0] and strides[0].item() == 8
    assert points[-1].tolist() == [320 - 16.0, 320 - 16.0] and strides[-1].item() == 32


def test_zero_logits_decode_to_the_cell() -> None:
    """With the box logits at zero, a box is centred on its cell and one stride wide."""
    model = Detector().eval()
    for head in model.heads:
        torch.nn.init.zeros_(head.pred.weight)
        torch.nn.init.zeros_(head.pred.bias)
    with torch.no_grad():
        out = model(torch.rand(1, 3, 320, 320))
    assert out[0, 0, :4].tolist() == [4.0, 4.0, 8.0, 8.0]
    assert out[0, 1600, :4].tolist() == [8.0, 8.0, 16.0, 16.0]  # first stride-16 cell


def test_weights_are_small(tmp_path: Path) -> None:
    model = Detector()
    assert count_parameters(model) < 1_000_000
    path = save_detector(model, tmp_path / "d.safetensors")
    assert path.stat().st_size < 5 * 1024 * 1024


def test_save_load_roundtrip_keeps_architecture(tmp_path: Path) -> None:
    student = Detector(DetectorConfig.scaled(0.5)).eval()
    path = save_detector(student, tmp_path / "s.safetensors")
    loaded = load_detector(path)
    assert loaded.config == student.config
    x = torch.rand(1, 3, 320, 320)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), student(x))


def test_width_mult_scales_channels() -> None:
    small, big = DetectorConfig.scaled(0.5), DetectorConfig.scaled(2.0)
    assert small.stages[-1] < DetectorConfig().stages[-1] < big.stages[-1]
    assert count_parameters(Detector(small)) < count_parameters(Detector()) < count_parameters(Detector(big))


def test_bad_config_is_refused() -> None:
    with pytest.raises(ConfigError, match="input_size"):
        DetectorConfig(input_size=300)
    with pytest.raises(ConfigError, match="num_classes"):
        DetectorConfig(num_classes=0)
