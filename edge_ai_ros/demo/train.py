"""Training loop for the demo detector, reused for fine-tuning and distillation.

``train_detector`` draws batches of freshly generated scenes (split "train"), so no data set
is stored and no scene repeats. With a ``teacher``, each batch also runs the teacher in eval
mode and adds ``distill_fn(student_raw, teacher_raw)`` to the loss. Both raw outputs are what
``Detector.forward_raw`` returns: a list with one logit map [N, 5 + C, H/s, W/s] per stride
s in (8, 16, 32), channels (tx, ty, tw, th, objectness, classes...), no sigmoid applied.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable, Iterator, Sequence

import torch
from torch import nn
from torch.utils.data import DataLoader

from edge_ai_ros.demo.dataset import SceneDataset, collate
from edge_ai_ros.demo.loss import detection_loss
from edge_ai_ros.errors import ConfigError

DistillFn = Callable[[Sequence[torch.Tensor], Sequence[torch.Tensor]], torch.Tensor]
WARMUP_STEPS = 50


def _check(steps: int, batch_size: int, lr: float) -> None:
    if steps < 1:
        raise ConfigError("steps", f"must be >= 1, got {steps}")
    if batch_size < 1:
        raise ConfigError("batch_size", f"must be >= 1, got {batch_size}")
    if not lr > 0:
        raise ConfigError("lr", f"must be > 0, got {lr}", fix="use about 2e-3 for training, 5e-4 for fine-tuning")


def _lr_at(step: int, steps: int, lr: float) -> float:
    """Linear warm-up then cosine decay to 5% of ``lr``."""
    if step < WARMUP_STEPS:
        return lr * (step + 1) / WARMUP_STEPS
    t = (step - WARMUP_STEPS) / max(1, steps - WARMUP_STEPS)
    return lr * (0.05 + 0.95 * 0.5 * (1.0 + math.cos(math.pi * t)))


def _batches(dataset: SceneDataset, batch_size: int, workers: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Batches in index order; scenes depend only on their index, so workers do not change the data."""
    if workers == 0:
        for start in range(0, len(dataset), batch_size):
            yield collate([dataset[i] for i in range(start, start + batch_size)])
        return
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=workers, collate_fn=collate,
                        worker_init_fn=lambda _: torch.set_num_threads(1), prefetch_factor=4)
    yield from loader


def _distill_term(student_raw: list[torch.Tensor], images: torch.Tensor, teacher: nn.Module | None,
                  distill_fn: DistillFn | None) -> torch.Tensor | None:
    if teacher is None or distill_fn is None:
        return None
    with torch.no_grad():
        teacher_raw = teacher.forward_raw(images)  # type: ignore[operator]
    return distill_fn(student_raw, teacher_raw)


def train_detector(model: nn.Module, *, steps: int, batch_size: int, lr: float, seed: int,
                   teacher: nn.Module | None = None, distill_fn: DistillFn | None = None,
                   progress: bool = True, history: list[float] | None = None, workers: int = 0) -> nn.Module:
    """Train ``model`` (a ``Detector`` or anything with ``forward_raw``) in place; returns it in eval mode.

    ``history``, when given, receives the total loss of every step. ``workers`` > 0 generates
    scenes in that many processes while the model trains (same data, same result).
    """
    _check(steps, batch_size, lr)
    if (teacher is None) != (distill_fn is None):
        raise ConfigError("teacher", "teacher and distill_fn must be given together",
                          fix="pass both for distillation, or neither")
    torch.manual_seed(seed)
    # Adam's second moments of tiny gradients go subnormal; on x86 every op on them then takes
    # a slow path (measured: 3 ms for a sqrt of a 1k-element tensor). Flush them to zero.
    torch.set_flush_denormal(True)
    dataset = SceneDataset(length=steps * batch_size, seed=seed, split="train")
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=5e-4)
    if teacher is not None:
        teacher.eval()
    model.train()
    start = time.monotonic()
    for step, (images, targets) in enumerate(_batches(dataset, batch_size, workers)):
        for group in optimizer.param_groups:
            group["lr"] = _lr_at(step, steps, lr)
        raw = model.forward_raw(images)  # type: ignore[operator]
        loss, parts = detection_loss(raw, targets)
        extra = _distill_term(raw, images, teacher, distill_fn)
        if extra is not None:
            loss = loss + extra
            parts["distill"] = float(extra.detach())
        optimizer.zero_grad(set_to_none=True)
        torch.autograd.backward(loss)
        nn.utils.clip_grad_norm_(model.parameters(), 10.0)
        optimizer.step()
        if history is not None:
            history.append(float(loss.detach()))
        if progress and (step % 25 == 0 or step == steps - 1):
            detail = " ".join(f"{k}={v:.3f}" for k, v in parts.items())
            print(f"step {step + 1}/{steps} loss={float(loss.detach()):.3f} {detail} "
                  f"({time.monotonic() - start:.0f} s)", file=sys.stderr, flush=True)
    return model.eval()
