"""Distillation measurably helps a student over training alone on the same budget.

The teacher is a fixed network that defines the task (it knows the task perfectly); the
student sees 64 training images whose hard labels are 30 % wrong, the everyday situation of
a small, imperfectly annotated set. Same student, seed, data, steps and optimizer; the only
difference is the distillation term. Accuracy is scored on 256 held-out clean images.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from edge_ai_ros.compression.distill import DistillConfig, distillation, flatten_raw, logit_distill_loss

CLASSES = 3
OUT = 5 + CLASSES


def _net(width: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(3, width, 3, 2, 1), nn.ReLU(), nn.Conv2d(width, width, 3, 2, 1), nn.ReLU(),
                         nn.Conv2d(width, OUT, 1))


def _teacher() -> nn.Sequential:
    torch.manual_seed(0)
    teacher = _net(32)
    with torch.no_grad():
        for param in teacher.parameters():
            param.mul_(2.0)
    return teacher.eval()


def _data(teacher: nn.Module, count: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    images = torch.randn(count, 3, 16, 16, generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():
        return images, teacher(images)


def _noisy_hard_loss(student: torch.Tensor, truth: torch.Tensor, noise: float = 0.3) -> torch.Tensor:
    s, t = flatten_raw(student), flatten_raw(truth)
    gen = torch.Generator().manual_seed(7)
    flip = torch.rand(t[..., 4].shape, generator=gen) < noise
    objectness = ((t[..., 4] > 0) ^ flip).float()
    labels = torch.where(flip, torch.randint(0, CLASSES, flip.shape, generator=gen), t[..., 5:].argmax(-1))
    return (F.binary_cross_entropy_with_logits(s[..., 4], objectness)
            + F.binary_cross_entropy_with_logits(s[..., 5:], F.one_hot(labels, CLASSES).float()))


def _accuracy(model: nn.Module, images: torch.Tensor, truth: torch.Tensor) -> float:
    with torch.no_grad():
        s, t = flatten_raw(model(images)), flatten_raw(truth)
    obj = ((s[..., 4] > 0) == (t[..., 4] > 0)).float().mean()
    cls = (s[..., 5:].argmax(-1) == t[..., 5:].argmax(-1)).float().mean()
    return float((obj + cls) / 2)


def _train(teacher: nn.Module, images: torch.Tensor, truth: torch.Tensor, distill: bool) -> nn.Module:
    torch.manual_seed(3)
    student = _net(8)
    optimizer = torch.optim.Adam(student.parameters(), lr=3e-3)
    with distillation(student, teacher, DistillConfig(temperature=2.0)) as distill_fn:
        for _ in range(150):
            out = student(images)
            loss = _noisy_hard_loss(out, truth)
            if distill:
                loss = loss + distill_fn(out, teacher(images))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    return student


def test_distillation_beats_training_alone_on_the_same_budget() -> None:
    teacher = _teacher()
    train_x, train_t = _data(teacher, 64, seed=1)
    val_x, val_t = _data(teacher, 256, seed=2)
    alone = _accuracy(_train(teacher, train_x, train_t, distill=False), val_x, val_t)
    taught = _accuracy(_train(teacher, train_x, train_t, distill=True), val_x, val_t)
    assert taught > alone + 0.02, f"distilled {taught:.3f} vs alone {alone:.3f}"


def test_logit_loss_is_zero_gradient_at_the_teacher_and_accepts_level_maps() -> None:
    levels = [torch.randn(2, OUT, 4, 4, requires_grad=True), torch.randn(2, OUT, 2, 2, requires_grad=True)]
    loss = logit_distill_loss(levels, [lvl.detach() for lvl in levels], DistillConfig())
    loss.backward()
    assert all(lvl.grad is not None and lvl.grad.abs().max() < 1e-6 for lvl in levels)
    assert flatten_raw(levels).shape == (2, 20, OUT)


def test_feature_distillation_hooks_named_layers_and_removes_them() -> None:
    teacher, student = _teacher(), _net(8)
    config = DistillConfig(feature_layers=(("1", "1"),))
    x = torch.randn(2, 3, 16, 16)
    with distillation(student, teacher, config) as distill_fn:
        loss = distill_fn(student(x), teacher(x))
        assert loss.item() > 0
    assert not student[1]._forward_hooks and not teacher[1]._forward_hooks
