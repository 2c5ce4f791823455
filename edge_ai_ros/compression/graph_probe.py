"""Which layer feeds which: found by running the model once with hooks.

Tracing (torch.fx) fails on detectors that build grids from ``x.shape``; hooks work on any
model. A leaf module "consumes" another when it receives that module's output tensor
object unchanged: used to fold Conv->BatchNorm pairs (QAT). The output layers that pruning
must not narrow (their channel count is the model's output format) are found on the autograd
graph instead, which sees through functional ops (adds, concats, activations, reshapes).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn


@dataclass(frozen=True, kw_only=True)
class LayerEdges:
    """consumers[name] = names of leaf modules that took that module's output as an input."""

    consumers: dict[str, tuple[str, ...]]
    order: tuple[str, ...]  # leaf modules in the order they ran


def leaf_modules(model: nn.Module) -> dict[str, nn.Module]:
    return {name: m for name, m in model.named_modules() if name and not list(m.children())}


def probe_edges(model: nn.Module, example: torch.Tensor) -> LayerEdges:
    """Run ``example`` through ``model`` (eval, no grad) and record producer -> consumer edges."""
    produced: dict[int, str] = {}
    consumers: dict[str, list[str]] = {}
    order: list[str] = []
    keep_alive: list[torch.Tensor] = []
    handles = []
    for name, module in leaf_modules(model).items():
        handles.append(module.register_forward_pre_hook(_make_pre_hook(name, produced, consumers)))
        handles.append(module.register_forward_hook(_make_post_hook(name, produced, consumers, order, keep_alive)))
    forward_once(model, example, handles)
    return LayerEdges(
        consumers={k: tuple(dict.fromkeys(v)) for k, v in consumers.items()}, order=tuple(dict.fromkeys(order)),
    )


def _make_pre_hook(name: str, produced: dict[int, str], consumers: dict[str, list[str]]):  # type: ignore[no-untyped-def]
    def hook(_module: nn.Module, inputs: tuple[object, ...]) -> None:
        for value in inputs:
            producer = produced.get(id(value)) if isinstance(value, torch.Tensor) else None
            if producer is not None:
                consumers[producer].append(name)

    return hook


def _make_post_hook(  # type: ignore[no-untyped-def]
    name: str, produced: dict[int, str], consumers: dict[str, list[str]], order: list[str],
    keep_alive: list[torch.Tensor],
):
    def hook(_module: nn.Module, _inputs: tuple[object, ...], output: object) -> None:
        order.append(name)
        consumers.setdefault(name, [])
        if isinstance(output, torch.Tensor):
            produced[id(output)] = name
            keep_alive.append(output)  # a freed tensor's id could be reused by a later one

    return hook


def output_layers(model: nn.Module, example: torch.Tensor) -> list[str]:
    """Conv/Linear layers whose output reaches the model's output through no other conv/linear
    (through adds, concats, activations, reshapes only): their channel count is the output format.

    Found on the autograd graph of one forward pass: hooks note which graph node each layer's
    output came from; a walk back from the outputs stops at the first such node on every path.
    """
    made_by: dict[int, str] = {}
    order: list[str] = []
    handles = []
    for name, module in leaf_modules(model).items():
        if isinstance(module, nn.Conv2d | nn.Linear):
            handles.append(module.register_forward_hook(_grad_node_hook(name, made_by, order)))
    was_training = model.training
    try:
        model.eval()
        with torch.enable_grad():
            outputs = model(example.detach().clone().requires_grad_(True))
    finally:
        for handle in handles:
            handle.remove()
        model.train(was_training)
    found = _walk_back(_tensors(outputs), made_by)
    return [name for name in dict.fromkeys(order) if name in found]


def _grad_node_hook(name: str, made_by: dict[int, str], order: list[str]):  # type: ignore[no-untyped-def]
    def hook(_module: nn.Module, _inputs: tuple[object, ...], output: object) -> None:
        order.append(name)
        if isinstance(output, torch.Tensor) and output.grad_fn is not None:
            made_by[id(output.grad_fn)] = name

    return hook


def _tensors(value: object) -> list[torch.Tensor]:
    if isinstance(value, torch.Tensor):
        return [value]
    if isinstance(value, dict):
        return [t for v in value.values() for t in _tensors(v)]
    if isinstance(value, list | tuple):
        return [t for v in value for t in _tensors(v)]
    return []


def _walk_back(outputs: list[torch.Tensor], made_by: dict[int, str]) -> set[str]:
    found: set[str] = set()
    seen: set[int] = set()
    stack: list[Any] = [t.grad_fn for t in outputs if t.grad_fn is not None]
    while stack:
        node = stack.pop()
        if node is None or id(node) in seen:
            continue
        seen.add(id(node))
        if id(node) in made_by:
            found.add(made_by[id(node)])
            continue
        stack.extend(next_node for next_node, _ in node.next_functions if next_node is not None)
    return found


def conv_bn_pairs(model: nn.Module, example: torch.Tensor) -> list[tuple[str, str]]:
    """(conv, batchnorm) names where the BN is the only consumer of the conv's output."""
    edges = probe_edges(model, example)
    layers = leaf_modules(model)
    pairs = []
    for name in edges.order:
        users = edges.consumers.get(name, ())
        if isinstance(layers[name], nn.Conv2d) and len(users) == 1 and isinstance(layers[users[0]], nn.BatchNorm2d):
            pairs.append((name, users[0]))
    return pairs


def forward_once(model: nn.Module, example: torch.Tensor, handles: list[Any]) -> None:
    """One eval-mode forward pass for hooks to observe; removes ``handles``, restores train mode."""
    was_training = model.training
    try:
        model.eval()
        with torch.no_grad():
            model(example)
    finally:
        for handle in handles:
            handle.remove()
        model.train(was_training)
