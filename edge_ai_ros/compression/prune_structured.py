"""Structured channel pruning: whole output channels removed, layers really narrower.

Dependencies between layers (a conv's output channels are the next BatchNorm's features
and the next conv's input channels; a residual add or a concat ties several convs together;
a depthwise conv follows its input; a grouped conv is pruned per group; flatten feeds a
linear layer) are resolved by
torch-pruning's dependency graph (``torch-pruning`` pinned in requirements, installed with
``--no-deps`` so it never changes torch). Channels are ranked by the L2 norm of their
coupled weights and the kept counts are rounded to a multiple of ``round_to`` (8 or 16),
which is what SIMD/tensor-core kernels process per step.

The layers that produce the model's outputs are never narrowed (their channel count *is*
the output format); they are found on the autograd graph (graph_probe.output_layers). What
torch-pruning cannot follow (channels picked by number in the forward code) is found before
training by ``prune_check``. Fine-tuning afterwards is the caller's job (``steps.prune_structured_step``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from edge_ai_ros.compression.graph_probe import output_layers
from edge_ai_ros.errors import ConfigError

ROUND_TO_CHOICES = (1, 8, 16)


@dataclass(frozen=True, kw_only=True)
class StructuredResult:
    ratio: float
    round_to: int
    channels_before: dict[str, int]  # conv name -> output channels
    channels_after: dict[str, int]
    ignored: tuple[str, ...]

    @property
    def left_whole(self) -> tuple[str, ...]:
        """Prunable convs that kept every channel (coupled to an ignored layer, or round_to too coarse)."""
        return tuple(n for n, c in self.channels_after.items()
                     if n not in self.ignored and c == self.channels_before[n] and c > self.round_to)

    @property
    def kept_fraction(self) -> float:
        before = sum(self.channels_before.values())
        return sum(self.channels_after.values()) / before if before else 1.0


def validate_structured(ratio: float, round_to: int) -> None:
    if not 0.0 < ratio < 1.0:
        raise ConfigError("ratio", f"must be in (0, 1), got {ratio}", fix="use 0.5 to remove about half the channels")
    if round_to not in ROUND_TO_CHOICES:
        raise ConfigError("round_to", f"must be one of {ROUND_TO_CHOICES}, got {round_to}", fix="use 8 (CPU) or 16 (GPU)")


def conv_channels(model: nn.Module) -> dict[str, int]:
    return {n: m.out_channels for n, m in model.named_modules() if isinstance(m, nn.Conv2d)}


def prune_channels(
    model: nn.Module, example: torch.Tensor, *, ratio: float, round_to: int = 8, ignore: Sequence[str] = (),
) -> StructuredResult:
    """Remove ``ratio`` of the output channels of every prunable conv, in place."""
    validate_structured(ratio, round_to)
    modules = dict(model.named_modules())
    unknown = [name for name in ignore if name not in modules]
    if unknown:
        raise ConfigError("ignore", f"no layer named {unknown} in the model", fix="use names from model.named_modules()")
    ignored = tuple(dict.fromkeys([*output_layers(model, example), *ignore]))
    before = conv_channels(model)
    import torch_pruning as tp  # lazily: only this step needs it

    was_training = model.training
    model.eval()
    pruner = tp.pruner.MagnitudePruner(
        model, example, importance=tp.importance.MagnitudeImportance(p=2), pruning_ratio=ratio,
        round_to=round_to if round_to > 1 else None, ignored_layers=[modules[n] for n in ignored],
    )
    pruner.step()
    model.train(was_training)
    return StructuredResult(
        ratio=ratio, round_to=round_to, channels_before=before, channels_after=conv_channels(model), ignored=ignored,
    )
