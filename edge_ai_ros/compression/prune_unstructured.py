"""Global magnitude pruning of individual weights, on a sparsity schedule, made permanent.

The smallest |w| across all chosen layers are zeroed in stages (cubic schedule of Zhu &
Gupta, 2017: prune fast while there is slack, slowly near the target), with fine-tuning
between stages. At the end the masks are folded into the weights (``prune.remove``), so
the state dict and ONNX export carry plain weights and no ``weight_mask`` / ``weight_orig``.

Honest note: zeros in dense tensors do not make dense kernels faster. Unstructured pruning
shrinks the *compressed* size of the weights (zip, OTA updates); latency only improves on
runtimes with sparse kernels, which none of our CPU backends use for these convs.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn.utils import prune

from edge_ai_ros.errors import ConfigError

FinetuneFn = Callable[[nn.Module, int], None]  # (model, stage index) -> trains in place


@dataclass(frozen=True, kw_only=True)
class UnstructuredResult:
    target_sparsity: float
    achieved_sparsity: float  # zeros / weights over the pruned layers
    schedule: tuple[float, ...]  # cumulative sparsity after each stage
    layers: tuple[str, ...]


def cubic_schedule(target: float, stages: int) -> tuple[float, ...]:
    """Cumulative sparsity after each stage: s_k = s * (1 - (1 - k/n)^3)."""
    if not 0.0 < target < 1.0:
        raise ConfigError("sparsity", f"must be in (0, 1), got {target}", fix="use e.g. 0.5 for half the weights")
    if stages < 1:
        raise ConfigError("stages", f"must be >= 1, got {stages}", fix="use 1 for one-shot pruning")
    return tuple(target * (1.0 - (1.0 - k / stages) ** 3) for k in range(1, stages + 1))


def prunable_layers(model: nn.Module, names: Sequence[str] = ()) -> dict[str, nn.Module]:
    """Conv2d and Linear layers by name: all of them, or exactly ``names`` (checked)."""
    layers: dict[str, nn.Module] = {n: m for n, m in model.named_modules() if isinstance(m, nn.Conv2d | nn.Linear)}
    if not names:
        return layers
    unknown = [n for n in names if n not in layers]
    if unknown:
        raise ConfigError(
            "layers", f"no Conv2d/Linear layer named {unknown} in the model",
            fix=f"choose from {sorted(layers)[:8]}{'...' if len(layers) > 8 else ''}",
        )
    return {n: layers[n] for n in names}


def prune_unstructured(
    model: nn.Module, *, sparsity: float, stages: int = 3, layers: Sequence[str] = (),
    finetune: FinetuneFn | None = None,
) -> UnstructuredResult:
    """Prune ``model`` in place to ``sparsity`` over ``layers`` (default every conv/linear)."""
    schedule = cubic_schedule(sparsity, stages)
    chosen = prunable_layers(model, layers)
    params = [(module, "weight") for module in chosen.values()]
    previous = 0.0
    try:
        for stage, cumulative in enumerate(schedule):
            step_amount = (cumulative - previous) / (1.0 - previous)  # of the weights still left
            prune.global_unstructured(params, pruning_method=prune.L1Unstructured, amount=step_amount)
            previous = cumulative
            if finetune is not None:
                finetune(model, stage)
    finally:
        make_permanent(model)  # also on Ctrl-C: never leave mask hooks on a model
    return UnstructuredResult(
        target_sparsity=sparsity, achieved_sparsity=weight_sparsity(model, tuple(chosen)),
        schedule=schedule, layers=tuple(chosen),
    )


def make_permanent(model: nn.Module) -> None:
    """Fold every pruning mask into its weight and drop the reparametrisation."""
    for module in model.modules():
        for hook in list(module._forward_pre_hooks.values()):
            if isinstance(hook, prune.BasePruningMethod):
                prune.remove(module, hook._tensor_name)  # type: ignore[no-untyped-call]


def weight_sparsity(model: nn.Module, names: Sequence[str] = ()) -> float:
    """Fraction of exactly-zero weights over the named (default all) conv/linear layers."""
    layers = prunable_layers(model, names)
    weights = [m.weight for m in layers.values() if isinstance(m.weight, torch.Tensor)]
    total = sum(int(w.numel()) for w in weights)
    zeros = sum(int((w == 0).sum()) for w in weights)
    return zeros / total if total else 0.0


def has_pruning_masks(model: nn.Module) -> bool:
    return any(k.endswith(("_mask", "_orig")) for k in model.state_dict())


__all__ = ["UnstructuredResult", "cubic_schedule", "has_pruning_masks", "make_permanent",
           "prune_unstructured", "prunable_layers", "weight_sparsity"]
