"""Will structured pruning work on this model? A dry run on a copy, before any training.

torch-pruning follows residual adds, concatenations, depthwise and grouped convolutions,
flatten into linear layers. It cannot follow ops that pick channels by number (``x[:, :16]``,
``x.view(n, 512)`` with a fixed size, ``torch.split`` by fixed sizes): pruning the layer that
feeds them breaks the forward pass. The dry run prunes a copy, runs it, and if it fails finds
the layer to leave alone (``ignore: [layer]``), trying the layers that ran last before the failure.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

import torch
from torch import nn

from edge_ai_ros.compression.graph_probe import leaf_modules, probe_edges
from edge_ai_ros.compression.prune_structured import prune_channels
from edge_ai_ros.errors import ConfigError

PRUNE_FAILURES = (RuntimeError, ValueError, TypeError, IndexError, KeyError, AssertionError)
MAX_CANDIDATES = 8  # layers tried as the one to ignore, nearest the failure first


def _shapes(out: object) -> object:
    if isinstance(out, torch.Tensor):
        return tuple(out.shape)
    if isinstance(out, list | tuple):
        return tuple(_shapes(o) for o in out)
    return type(out).__name__


def dry_run(model: nn.Module, example: torch.Tensor, *, ratio: float, round_to: int,
            ignore: Sequence[str]) -> tuple[str, str] | None:
    """None if pruning a copy works and keeps the output shapes; else (failing layer, reason)."""
    trial = copy.deepcopy(model).eval()
    with torch.no_grad():
        expected = _shapes(trial(example))
    entered: list[str] = []
    try:
        prune_channels(trial, example, ratio=ratio, round_to=round_to, ignore=ignore)
    except PRUNE_FAILURES as err:
        return "", f"torch-pruning cannot trace the graph: {type(err).__name__}: {err}"
    finished: list[str] = []
    handles = []
    for name, module in leaf_modules(trial).items():
        handles.append(module.register_forward_pre_hook(lambda _m, _i, n=name: entered.append(n)))
        handles.append(module.register_forward_hook(lambda _m, _i, _o, n=name: finished.append(n)))
    try:
        with torch.no_grad():
            got = _shapes(trial(example))
    except PRUNE_FAILURES as err:
        reason = f"{type(err).__name__}: {str(err).splitlines()[0]}"
        if entered and (not finished or entered[-1] != finished[-1]):
            return entered[-1], reason  # raised inside this layer
        return (finished[-1] if finished else ""), f"in the code after it: {reason}"
    finally:
        for handle in handles:
            handle.remove()
    if got != expected:
        return "", f"the output shapes change from {expected} to {got}"
    return None


def check_structured(model: nn.Module, example: torch.Tensor, *, ratio: float, round_to: int,
                     ignore: Sequence[str], field_name: str) -> None:
    """Raise ConfigError naming the layer to ignore if structured pruning would break the model."""
    failure = dry_run(model, example, ratio=ratio, round_to=round_to, ignore=ignore)
    if failure is None:
        return
    layer, reason = failure
    where = f" at layer {layer!r}" if layer else ""
    fix_layer = _layer_to_ignore(model, example, ratio=ratio, round_to=round_to, ignore=ignore, failed_at=layer)
    fix = (f"add {fix_layer!r} to {field_name}.ignore (pruned with it left whole, the model runs)" if fix_layer
           else f"add the layers that feed the failing op to {field_name}.ignore, or drop the step")
    raise ConfigError(f"{field_name}.ignore", f"structured pruning breaks the model{where}: {reason}", fix=fix)


def _layer_to_ignore(model: nn.Module, example: torch.Tensor, *, ratio: float, round_to: int,
                     ignore: Sequence[str], failed_at: str) -> str:
    """The first conv/linear layer, going back from the failure, whose exclusion makes pruning work."""
    order = list(probe_edges(model, example).order)
    layers = leaf_modules(model)
    end = order.index(failed_at) + 1 if failed_at in order else len(order)
    candidates = [n for n in reversed(order[:end]) if isinstance(layers[n], nn.Conv2d | nn.Linear)
                  and n not in ignore][:MAX_CANDIDATES]
    for name in candidates:
        if dry_run(model, example, ratio=ratio, round_to=round_to, ignore=[*ignore, name]) is None:
            return name
    return ""
