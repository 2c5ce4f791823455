"""Save and load model weights without ever running code from a file.

Weights are written as safetensors (plain tensors, no pickle). Reading accepts safetensors
and PyTorch checkpoints opened with ``torch.load(weights_only=True)``; a checkpoint whose
pickle names anything beyond tensors and containers (e.g. ``os.system``) is refused with
UnsafeWeightsError instead of being executed.

A structurally pruned model has narrower layers than the class builds by default, so
``load_weights_into`` first resizes Conv2d / BatchNorm2d / Linear modules to the shapes in
the file, then loads the values.
"""

from __future__ import annotations

import pickle
import re
from collections.abc import Mapping
from pathlib import Path

import torch
from torch import nn

from edge_ai_ros.atomic_io import atomic_output_path
from edge_ai_ros.errors import ConfigError, UnsafeWeightsError

SAFETENSORS_SUFFIX = ".safetensors"
TORCH_SUFFIXES = (".pt", ".pth", ".bin", ".ckpt")


def save_weights(model_or_state: nn.Module | Mapping[str, torch.Tensor], path: str | Path) -> Path:
    """Write a state dict as safetensors, atomically (a reader never sees half a file)."""
    from safetensors.torch import save_file

    target = Path(path)
    if target.suffix != SAFETENSORS_SUFFIX:
        raise ConfigError("weights path", f"{target} must end in {SAFETENSORS_SUFFIX}", fix="save weights as safetensors")
    state = model_or_state.state_dict() if isinstance(model_or_state, nn.Module) else model_or_state
    tensors = {name: t.detach().contiguous().cpu() for name, t in state.items()}
    with atomic_output_path(target) as tmp:
        save_file(tensors, str(tmp))
    return target


def load_weights(path: str | Path) -> dict[str, torch.Tensor]:
    """Read a state dict from safetensors or a weights-only PyTorch checkpoint."""
    source = Path(path)
    if not source.is_file():
        raise ConfigError("weights", f"file not found: {source}", fix="pass the path of an existing weights file")
    if source.suffix == SAFETENSORS_SUFFIX:
        from safetensors.torch import load_file

        return dict(load_file(str(source)))
    if source.suffix in TORCH_SUFFIXES:
        return _load_torch_checkpoint(source)
    raise ConfigError(
        "weights", f"unknown weights format {source.suffix!r} for {source}",
        fix=f"use {SAFETENSORS_SUFFIX} (preferred) or a PyTorch checkpoint {TORCH_SUFFIXES}",
    )


def _load_torch_checkpoint(source: Path) -> dict[str, torch.Tensor]:
    try:
        loaded = torch.load(str(source), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        blocked = re.search(r"GLOBAL ([\w.]+)", str(err))
        what = blocked.group(1) if blocked else "a non-tensor object"
        raise UnsafeWeightsError(
            f"{source} was refused: its pickle would import and call {what} when loaded, "
            "which can run arbitrary code",
            fix="re-save the weights as safetensors from a trusted environment "
            "(edge_ai_ros.compression.weights_io.save_weights)",
        ) from err
    state = loaded.get("state_dict", loaded) if isinstance(loaded, dict) else loaded
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ConfigError("weights", f"{source} holds no state dict of tensors", fix="save model.state_dict()")
    return {str(k): v for k, v in state.items()}


def load_weights_into(model: nn.Module, state: Mapping[str, torch.Tensor]) -> nn.Module:
    """Resize layers to the file's shapes (pruned models), then load the values strictly."""
    for name, module in model.named_modules():
        weight = state.get(f"{name}.weight" if name else "weight")
        if weight is not None:
            _resize_module(module, weight.shape)
    missing, unexpected = model.load_state_dict(dict(state), strict=False)
    if missing or unexpected:
        raise ConfigError(
            "weights", f"do not match the model: missing {sorted(missing)[:5]}, unexpected {sorted(unexpected)[:5]}",
            fix="build the model with the same architecture config the weights were trained with",
        )
    return model


def _resize_module(module: nn.Module, shape: torch.Size) -> None:
    """Give a layer empty parameters of the file's shape so load_state_dict can fill them."""
    if isinstance(module, nn.Conv2d) and tuple(module.weight.shape) != tuple(shape):
        module.out_channels, module.in_channels = int(shape[0]), int(shape[1]) * module.groups
        module.weight = nn.Parameter(torch.empty(shape))
        if module.bias is not None:
            module.bias = nn.Parameter(torch.empty(int(shape[0])))
    elif isinstance(module, nn.BatchNorm2d) and module.num_features != int(shape[0]):
        channels = int(shape[0])
        module.num_features = channels
        module.weight = nn.Parameter(torch.empty(channels))
        module.bias = nn.Parameter(torch.empty(channels))
        module.register_buffer("running_mean", torch.zeros(channels))
        module.register_buffer("running_var", torch.ones(channels))
    elif isinstance(module, nn.Linear) and tuple(module.weight.shape) != tuple(shape):
        module.out_features, module.in_features = int(shape[0]), int(shape[1])
        module.weight = nn.Parameter(torch.empty(shape))
        if module.bias is not None:
            module.bias = nn.Parameter(torch.empty(int(shape[0])))
