"""Size of a model: parameters, multiply-accumulates, weight sparsity, file bytes.

MACs are counted from the layers that ran (forward hooks on Conv2d and Linear, the only
layers with meaningful arithmetic in a Conv-BN-act detector), so a pruned model is measured
as it is, not from its config. File size is reported raw and deflate-compressed: the
second is what unstructured pruning shrinks.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from edge_ai_ros.compression.graph_probe import forward_once
from edge_ai_ros.compression.prune_unstructured import weight_sparsity


@dataclass(frozen=True, kw_only=True)
class ModelStats:
    params: int
    macs: int
    sparsity: float  # fraction of zero conv/linear weights


@dataclass(frozen=True, kw_only=True)
class FileStats:
    bytes: int
    compressed_bytes: int  # zlib level 6, like a zip of the file


def count_params(model: nn.Module) -> int:
    return sum(int(p.numel()) for p in model.parameters())


def count_macs(model: nn.Module, example: torch.Tensor) -> int:
    """Multiply-accumulates of one forward pass over ``example`` (batch included)."""
    total = [0]

    def conv_hook(module: nn.Conv2d, _inputs: object, output: torch.Tensor) -> None:
        kernel = module.weight.shape[1] * module.weight.shape[2] * module.weight.shape[3]
        total[0] += int(output.numel()) * int(kernel)

    def linear_hook(module: nn.Linear, _inputs: object, output: torch.Tensor) -> None:
        total[0] += int(output.numel()) * module.in_features

    handles = []
    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            handles.append(module.register_forward_hook(conv_hook))
        elif isinstance(module, nn.Linear):
            handles.append(module.register_forward_hook(linear_hook))
    forward_once(model, example, handles)
    return total[0]


def model_stats(model: nn.Module, example: torch.Tensor) -> ModelStats:
    return ModelStats(params=count_params(model), macs=count_macs(model, example), sparsity=weight_sparsity(model))


def file_stats(path: str | Path) -> FileStats:
    data = Path(path).read_bytes()
    return FileStats(bytes=len(data), compressed_bytes=len(zlib.compress(data, 6)))
