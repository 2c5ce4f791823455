"""Knowledge distillation: a trained teacher guides a student (sigmoid heads by default).

Logit distillation (Hinton et al., 2015) adapted to sigmoid heads: the objectness and every
class score are binary distributions, so the student matches the teacher's
temperature-softened sigmoid with binary cross-entropy, scaled by T^2 (keeps gradient size
independent of T). Class terms are weighted by the teacher's objectness so background
cells, where class scores mean nothing, do not dominate.

Optional feature distillation uses attention transfer (Zagoruyko & Komodakis, 2017): the
channel-mean of squared activations, L2-normalised per image. It needs no adapter layer,
so a pruned student with fewer channels can still match an unpruned teacher.

The returned ``distill_fn(student_raw, teacher_raw) -> loss`` is the hook that the training
loop (``train_loop.train``) adds to its supervised loss. Other tasks pass their own logit loss
(a task adapter's ``distill_loss``, e.g. softmax KD for classifiers).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from edge_ai_ros.errors import ConfigError

RawOutput = torch.Tensor | Sequence[torch.Tensor]
DistillFn = Callable[[RawOutput, RawOutput], torch.Tensor]


@dataclass(frozen=True, kw_only=True)
class DistillConfig:
    temperature: float = 2.0
    weight: float = 1.0  # multiplies the logit term added to the supervised loss
    objectness_index: int = 4  # layout of the last axis: cx, cy, w, h, obj, classes...
    feature_layers: tuple[tuple[str, str], ...] = ()  # (student layer, teacher layer) pairs
    feature_weight: float = 1.0

    def __post_init__(self) -> None:
        if self.temperature <= 0:
            raise ConfigError("distill.temperature", f"must be > 0, got {self.temperature}", fix="use 2.0 to 4.0")
        if self.weight < 0 or self.feature_weight < 0:
            raise ConfigError("distill.weight", "weights must be >= 0", fix="use 1.0")


def flatten_raw(raw: RawOutput) -> torch.Tensor:
    """Raw head outputs -> [N, A, K]: a [N, A, K] tensor, [N, K, H, W] maps, or a list of them."""
    if isinstance(raw, torch.Tensor):
        if raw.dim() == 4:
            return raw.flatten(2).transpose(1, 2)
        return raw
    return torch.cat([flatten_raw(r) for r in raw], dim=1)


def logit_distill_loss(student: RawOutput, teacher: RawOutput, config: DistillConfig) -> torch.Tensor:
    """Temperature-softened binary KD on objectness and class logits (teacher detached)."""
    s, t = flatten_raw(student), flatten_raw(teacher).detach()
    if s.shape != t.shape:
        raise ConfigError("distill.teacher", f"teacher outputs {tuple(t.shape)} but student {tuple(s.shape)}",
                          fix="use a teacher with the same input size, strides and classes as the student")
    temp, obj = config.temperature, config.objectness_index
    soft_t = torch.sigmoid(t[..., obj:] / temp)
    per_elem = F.binary_cross_entropy_with_logits(s[..., obj:] / temp, soft_t, reduction="none")
    obj_loss = per_elem[..., 0].mean()
    if per_elem.shape[-1] > 1:
        gate = torch.sigmoid(t[..., obj : obj + 1])  # teacher's belief that a cell holds an object
        cls_loss = (per_elem[..., 1:] * gate).sum() / gate.sum().clamp(min=1.0) / (per_elem.shape[-1] - 1)
    else:
        cls_loss = torch.zeros((), device=s.device)
    return (obj_loss + cls_loss) * temp * temp * config.weight


def attention_map(feature: torch.Tensor) -> torch.Tensor:
    return F.normalize(feature.pow(2).mean(dim=1).flatten(1), dim=1)


def attention_transfer_loss(student: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
    if student.shape[-2:] != teacher.shape[-2:]:
        teacher = F.interpolate(teacher, size=student.shape[-2:], mode="bilinear", align_corners=False)
    return (attention_map(student) - attention_map(teacher.detach())).pow(2).sum(dim=1).mean()


class FeatureTaps:
    """Keeps the latest output of named layers of the student and teacher (forward hooks)."""

    def __init__(self, student: nn.Module, teacher: nn.Module, pairs: Sequence[tuple[str, str]]) -> None:
        self.pairs = tuple(pairs)
        self.features: dict[str, torch.Tensor] = {}
        self._handles = []
        for side, model, names in (("s", student, [p[0] for p in pairs]), ("t", teacher, [p[1] for p in pairs])):
            modules = dict(model.named_modules())
            for name in names:
                if name not in modules:
                    raise ConfigError("distill.feature_layers", f"no layer named {name!r} in the "
                                      f"{'student' if side == 's' else 'teacher'}", fix="use names from named_modules()")
                self._handles.append(modules[name].register_forward_hook(self._store(f"{side}:{name}")))

    def _store(self, key: str):  # type: ignore[no-untyped-def]
        def hook(_m: nn.Module, _i: object, output: torch.Tensor) -> None:
            self.features[key] = output
        return hook

    def loss(self) -> torch.Tensor:
        terms = [attention_transfer_loss(self.features[f"s:{s}"], self.features[f"t:{t}"]) for s, t in self.pairs]
        return torch.stack(terms).sum() if terms else torch.zeros(())

    def close(self) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()


LogitLoss = Callable[[RawOutput, RawOutput, float], torch.Tensor]  # (student, teacher, temperature) -> loss


@contextmanager
def distillation(student: nn.Module, teacher: nn.Module, config: DistillConfig,
                 logit_loss: LogitLoss | None = None) -> Iterator[DistillFn]:
    """Yield the distill hook for one training run; removes feature hooks afterwards.

    ``logit_loss`` (default: the detector's sigmoid KD above) is weighted by ``config.weight``."""
    teacher.eval()
    for param in teacher.parameters():
        param.requires_grad_(False)
    taps = FeatureTaps(student, teacher, config.feature_layers) if config.feature_layers else None

    def distill_fn(student_raw: RawOutput, teacher_raw: RawOutput) -> torch.Tensor:
        if logit_loss is None:
            loss = logit_distill_loss(student_raw, teacher_raw, config)
        else:
            loss = config.weight * logit_loss(student_raw, teacher_raw, config.temperature)
        if taps is not None:
            loss = loss + config.feature_weight * taps.loss()
        return loss

    try:
        yield distill_fn
    finally:
        if taps is not None:
            taps.close()
