"""A short training run on generated scenes lowers the loss; the loss assigns every box."""

from __future__ import annotations

import pytest
import torch

from edge_ai_ros.demo.dataset import SceneDataset, collate
from edge_ai_ros.demo.loss import assign
from edge_ai_ros.demo.train import train_detector
from edge_ai_ros.errors import ConfigError
from edge_ai_ros.models.detector import Detector, DetectorConfig, anchor_points


def test_twenty_steps_lower_the_loss() -> None:
    torch.manual_seed(0)
    model = Detector(DetectorConfig.scaled(0.5))
    history: list[float] = []
    train_detector(model, steps=20, batch_size=4, lr=3e-3, seed=0, progress=False, history=history)
    assert len(history) == 20
    assert sum(history[-5:]) / 5 < 0.8 * sum(history[:5]) / 5
    assert not model.training


def test_every_box_gets_an_anchor() -> None:
    images, targets = collate([SceneDataset(length=4, seed=0)[i] for i in range(4)])
    raw = Detector().forward_raw(images)
    points, strides = anchor_points(raw)
    matched = assign(points, strides, targets)
    for b in range(targets.shape[0]):
        n_boxes = int((targets[b, :, 0] >= 0).sum())
        assert set(matched[b][matched[b] >= 0].tolist()) == set(range(n_boxes))


def test_dataset_targets_are_letterboxed() -> None:
    image, targets = SceneDataset(length=1, seed=0, flip=False)[0]
    assert image.shape == (3, 320, 320)
    assert float(image[:, 0, 0].mul(255).round()[0]) == 114  # pad row above the 320x240 picture
    assert torch.all(targets[:, [2, 4]] >= 40) and torch.all(targets[:, [2, 4]] <= 280)


def test_distillation_hook_is_called() -> None:
    seen: list[int] = []

    def distill(student_raw: list[torch.Tensor], teacher_raw: list[torch.Tensor]) -> torch.Tensor:
        seen.append(len(teacher_raw))
        return sum((s - t).pow(2).mean() for s, t in zip(student_raw, teacher_raw, strict=True))  # type: ignore[return-value]

    student, teacher = Detector(DetectorConfig.scaled(0.5)), Detector(DetectorConfig.scaled(0.5))
    train_detector(student, steps=2, batch_size=2, lr=1e-3, seed=1, teacher=teacher, distill_fn=distill, progress=False)
    assert seen == [3, 3]


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ConfigError, match="steps"):
        train_detector(Detector(), steps=0, batch_size=1, lr=1e-3, seed=0)
    with pytest.raises(ConfigError, match="teacher"):
        train_detector(Detector(), steps=1, batch_size=1, lr=1e-3, seed=0, teacher=Detector())
