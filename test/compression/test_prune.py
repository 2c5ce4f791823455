"""Pruning on the real demo detector at a small input: channels really go, masks never stay."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import torch

from edge_ai_ros.compression.model_stats import count_macs, count_params
from edge_ai_ros.compression.prune_structured import prune_channels
from edge_ai_ros.compression.prune_unstructured import (
    cubic_schedule,
    has_pruning_masks,
    prune_unstructured,
    weight_sparsity,
)
from edge_ai_ros.errors import ConfigError
from edge_ai_ros.models.detector import Detector, DetectorConfig


@pytest.fixture
def detector() -> Detector:
    torch.manual_seed(0)
    return Detector(DetectorConfig()).eval()


def _export(model: torch.nn.Module, path: Path, example: torch.Tensor) -> Path:
    torch.onnx.export(model.eval(), (example,), str(path), dynamo=False, opset_version=17,
                      input_names=["images"], output_names=["predictions"],
                      dynamic_axes={"images": {0: "batch"}, "predictions": {0: "batch"}})
    return path


def test_structured_pruning_removes_channels_rounded_and_still_exports(detector: Detector, tmp_path: Path) -> None:
    example = torch.rand(1, 3, 64, 64)
    before_params, before_macs = count_params(detector), count_macs(detector, example)
    result = prune_channels(detector, example, ratio=0.5, round_to=8)
    assert result.ignored == ("heads.0.pred", "heads.1.pred", "heads.2.pred")
    changed = {n: c for n, c in result.channels_after.items() if c != result.channels_before[n]}
    assert len(changed) >= 0.8 * (len(result.channels_after) - len(result.ignored))
    assert all(c % 8 == 0 and c <= 0.5 * result.channels_before[n] + 8 for n, c in changed.items()), changed
    assert detector.stage3[0].conv.out_channels == result.channels_after["stage3.0.conv"]  # layers really shrank
    assert result.kept_fraction < 0.6
    assert count_params(detector) < 0.4 * before_params and count_macs(detector, example) < 0.4 * before_macs
    with torch.no_grad():
        shape = detector(torch.rand(2, 3, 64, 64)).shape
    outputs = 5 + detector.config.num_classes
    assert shape == (2, 84, outputs)  # output format unchanged: 8x8 + 4x4 + 2x2 anchors
    session = ort.InferenceSession(str(_export(detector, tmp_path / "p.onnx", example)))
    out = session.run(None, {"images": np.random.rand(2, 3, 64, 64).astype(np.float32)})[0]
    assert out.shape == (2, 84, outputs)


@pytest.mark.parametrize(("ratio", "round_to"), [(0.0, 8), (1.0, 8), (0.5, 7)])
def test_structured_pruning_refuses_bad_options(detector: Detector, ratio: float, round_to: int) -> None:
    with pytest.raises(ConfigError, match="ratio|round_to"):
        prune_channels(detector, torch.rand(1, 3, 64, 64), ratio=ratio, round_to=round_to)


def test_structured_pruning_refuses_unknown_ignored_layer(detector: Detector) -> None:
    with pytest.raises(ConfigError, match="no layer named"):
        prune_channels(detector, torch.rand(1, 3, 64, 64), ratio=0.5, ignore=("backbone.nope",))


def test_unstructured_pruning_reaches_sparsity_and_leaves_no_masks(detector: Detector, tmp_path: Path) -> None:
    stages_seen: list[int] = []
    result = prune_unstructured(detector, sparsity=0.6, stages=3, finetune=lambda m, s: stages_seen.append(s))
    assert stages_seen == [0, 1, 2]
    assert result.achieved_sparsity == pytest.approx(0.6, abs=0.01)
    assert weight_sparsity(detector) == pytest.approx(0.6, abs=0.01)
    assert not has_pruning_masks(detector)
    assert not any(name.endswith(("_orig", "_mask")) for name, _ in detector.named_parameters())
    import onnx

    model = onnx.load(str(_export(detector, tmp_path / "u.onnx", torch.rand(1, 3, 64, 64))))
    assert not any("mask" in init.name or "orig" in init.name for init in model.graph.initializer)


def test_cubic_schedule_is_monotonic_and_ends_at_target() -> None:
    schedule = cubic_schedule(0.8, 4)
    assert list(schedule) == sorted(schedule) and schedule[-1] == pytest.approx(0.8)
    with pytest.raises(ConfigError, match=r"sparsity: must be in \(0, 1\)"):
        cubic_schedule(1.2, 3)


def test_unstructured_pruning_refuses_missing_layer(detector: Detector) -> None:
    with pytest.raises(ConfigError, match="no Conv2d/Linear layer named"):
        prune_unstructured(detector, sparsity=0.5, layers=("stem.conv", "not.a.layer"))


def test_interrupted_unstructured_pruning_leaves_plain_weights(detector: Detector) -> None:
    def interrupt(_model: torch.nn.Module, stage: int) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        prune_unstructured(detector, sparsity=0.5, stages=3, finetune=interrupt)
    assert not has_pruning_masks(detector)
    assert all(not hasattr(m, "weight_orig") for m in detector.modules())
