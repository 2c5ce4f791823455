"""The one training loop of compression: fine-tuning, distillation and QAT all run through it.

Any ``nn.Module``, any iterable of ``(inputs, targets)`` batches (a DataLoader, a generator
factory's result), the task adapter's loss. AdamW with linear warm-up then cosine decay to 5 %
of the rate, gradient clipping, a tqdm progress bar on stderr. The data is iterated again
when it runs out before ``steps``. Ctrl-C raises KeyboardInterrupt out of the loop, leaving the
model half-trained in memory: the recipe runner then discards the whole run.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

import torch
from torch import nn
from tqdm import tqdm

from edge_ai_ros.compression.task import Batch, Outputs, TaskAdapter, split_batch
from edge_ai_ros.errors import ConfigError

DistillFn = Callable[[Outputs, Outputs], torch.Tensor]  # (student outputs, teacher outputs) -> loss


@dataclass(frozen=True, kw_only=True)
class TrainConfig:
    steps: int
    lr: float
    seed: int = 0
    weight_decay: float = 5e-4
    warmup_steps: int = 50
    clip_grad_norm: float = 10.0
    progress: bool = True
    description: str = "train"

    def __post_init__(self) -> None:
        if self.steps < 1:
            raise ConfigError("steps", f"must be >= 1, got {self.steps}", fix="use e.g. 200")
        if not self.lr > 0:
            raise ConfigError("lr", f"must be > 0, got {self.lr}", fix="about 2e-3 to train, 5e-4 to fine-tune")

    def lr_at(self, step: int) -> float:
        """Linear warm-up, then cosine decay to 5 % of ``lr``."""
        if step < self.warmup_steps:
            return self.lr * (step + 1) / self.warmup_steps
        t = (step - self.warmup_steps) / max(1, self.steps - self.warmup_steps)
        return self.lr * (0.05 + 0.95 * 0.5 * (1.0 + math.cos(math.pi * t)))


def repeat_batches(data: Iterable[object], steps: int, field_name: str = "data.train") -> Iterator[Batch]:
    """``steps`` batches of ``data``, starting it over when it runs out (a one-shot iterator is refused)."""
    produced = 0
    while produced < steps:
        this_pass = 0
        for batch in data:
            yield split_batch(batch, field_name)
            this_pass += 1
            produced += 1
            if produced == steps:
                return
        if this_pass == 0:
            raise ConfigError(field_name, "ran out of batches before the training budget",
                              fix="return a re-iterable (a DataLoader or list), not a one-shot generator")


def train(model: nn.Module, data: Iterable[object], task: TaskAdapter, config: TrainConfig, *,
          teacher: nn.Module | None = None, distill_fn: DistillFn | None = None) -> nn.Module:
    """Train ``model`` in place on ``config.steps`` batches; returns it in eval mode."""
    if (teacher is None) != (distill_fn is None):
        raise ConfigError("teacher", "teacher and distill_fn must be given together", fix="pass both or neither")
    torch.manual_seed(config.seed)
    torch.set_flush_denormal(True)  # Adam's subnormal second moments take a slow path on x86
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    if teacher is not None:
        teacher.eval()
    model.train()
    bar = tqdm(total=config.steps, desc=config.description, disable=not config.progress, unit="step",
               dynamic_ncols=True, mininterval=2.0)
    try:
        for step, (inputs, targets) in enumerate(repeat_batches(data, config.steps)):
            for group in optimizer.param_groups:
                group["lr"] = config.lr_at(step)
            outputs = task.train_outputs(model, inputs)
            loss = task.loss(outputs, targets)
            if teacher is not None and distill_fn is not None:
                with torch.no_grad():
                    teacher_outputs = task.train_outputs(teacher, inputs)
                loss = loss + distill_fn(outputs, teacher_outputs)
            optimizer.zero_grad(set_to_none=True)
            torch.autograd.backward(loss)
            nn.utils.clip_grad_norm_(model.parameters(), config.clip_grad_norm)
            optimizer.step()
            bar.update(1)
            bar.set_postfix(loss=f"{float(loss.detach()):.3f}", refresh=False)
    finally:
        bar.close()
    return model.eval()
