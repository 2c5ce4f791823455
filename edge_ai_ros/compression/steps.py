"""The compression steps as a library: each takes any ``nn.Module``, data and a task adapter.

Each function changes the model in place and returns a short note for the report. Data is
an iterable of ``(inputs, targets)`` batches (a DataLoader, a list); fine-tuning, distillation
and QAT all train with ``train_loop.train`` (tqdm progress, Ctrl-C stops it). The recipe runner
calls these same functions with the objects the recipe names.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from itertools import islice

import torch
from torch import nn

from edge_ai_ros.compression.distill import DistillConfig, distillation
from edge_ai_ros.compression.prune_structured import StructuredResult, prune_channels
from edge_ai_ros.compression.prune_unstructured import prune_unstructured
from edge_ai_ros.compression.qat import QatConfig, calibrate_observers, prepare_qat
from edge_ai_ros.compression.task import TaskAdapter, split_batch
from edge_ai_ros.compression.train_loop import TrainConfig, train
from edge_ai_ros.int8_format import REDUCED_WEIGHT_QMAX, int8_format_for


def finetune(model: nn.Module, data: Iterable[object], task: TaskAdapter, *, steps: int, lr: float, seed: int = 0,
             progress: bool = True, description: str = "fine-tune") -> nn.Module:
    """Train ``model`` for ``steps`` batches with the task's loss (warm-up + cosine)."""
    config = TrainConfig(steps=steps, lr=lr, seed=seed, progress=progress, description=description)
    return train(model, data, task, config)


def prune_unstructured_step(model: nn.Module, data: Iterable[object], task: TaskAdapter, *, sparsity: float,
                            stages: int = 3, finetune_steps: int = 30, lr: float = 1e-3, layers: Sequence[str] = (),
                            seed: int = 0, progress: bool = True) -> str:
    """Global magnitude pruning to ``sparsity`` in ``stages``, fine-tuning between stages."""
    def between(m: nn.Module, stage: int) -> None:
        if finetune_steps:
            finetune(m, data, task, steps=finetune_steps, lr=lr, seed=seed + stage, progress=progress,
                     description=f"prune stage {stage + 1}/{stages}")

    result = prune_unstructured(model, sparsity=sparsity, stages=stages, layers=layers, finetune=between)
    return (f"global magnitude, cubic schedule {[round(s, 3) for s in result.schedule]}, "
            f"{finetune_steps} fine-tune steps per stage; sparsity {result.achieved_sparsity:.3f}")


def prune_structured_step(model: nn.Module, example: torch.Tensor, data: Iterable[object], task: TaskAdapter, *,
                          ratio: float, round_to: int = 8, ignore: Sequence[str] = (), finetune_steps: int = 200,
                          lr: float = 1e-3, seed: int = 0, progress: bool = True) -> StructuredResult:
    """Remove ``ratio`` of the channels of every prunable layer, then fine-tune."""
    result = prune_channels(model, example, ratio=ratio, round_to=round_to, ignore=ignore)
    if finetune_steps:
        finetune(model, data, task, steps=finetune_steps, lr=lr, seed=seed, progress=progress,
                 description="prune fine-tune")
    return result


def structured_note(result: StructuredResult, finetune_steps: int) -> str:
    whole = f"; left whole: {list(result.left_whole)}" if result.left_whole else ""
    return (f"{100 * (1 - result.kept_fraction):.0f}% of conv channels removed (round to {result.round_to}), "
            f"{finetune_steps} fine-tune steps{whole}")


def distill_step(model: nn.Module, teacher: nn.Module, data: Iterable[object], task: TaskAdapter, *, steps: int,
                 lr: float = 1e-3, temperature: float = 2.0, weight: float = 1.0,
                 feature_layers: Sequence[tuple[str, str]] = (), seed: int = 0, progress: bool = True) -> str:
    """Train ``model`` on the task loss plus the task's KD loss against ``teacher`` (+ attention transfer)."""
    config = DistillConfig(temperature=temperature, weight=weight, feature_layers=tuple(feature_layers))
    train_config = TrainConfig(steps=steps, lr=lr, seed=seed, progress=progress, description="distill")
    with distillation(model, teacher, config, logit_loss=task.distill_loss) as distill_fn:
        train(model, data, task, train_config, teacher=teacher, distill_fn=distill_fn)
    features = f", attention transfer on {len(feature_layers)} layer pairs" if feature_layers else ""
    return f"logit KD T={temperature} weight={weight}{features}, {steps} steps"


def default_weight_qmax(target: str) -> int:
    """7-bit weights for CPU targets (exact on every x86-64 CPU, VNNI or not); TensorRT's full range."""
    return REDUCED_WEIGHT_QMAX if target == "cpu" else int8_format_for(target).weight_qmax


def qat_config(target: str, weight_qmax: int | None = None) -> QatConfig:
    """u8 activations with a Q after each conv for CPU runtimes; s8 without for TensorRT."""
    fmt = int8_format_for(target)
    return QatConfig(activation=fmt.activation, quantize_outputs=target == "cpu",
                     weight_qmax=weight_qmax or default_weight_qmax(target))


def qat_step(model: nn.Module, example: torch.Tensor, data: Iterable[object], task: TaskAdapter, *, steps: int,
             lr: float = 2e-4, calibration_data: Iterable[object] | None = None, calibration_batches: int = 4,
             target: str = "cpu", weight_qmax: int | None = None, seed: int = 0, progress: bool = True) -> str:
    """Fold BN, fake-quantize every conv, initialise observers on real batches, then train."""
    config = qat_config(target, weight_qmax)
    prepare_qat(model, example, config)
    source = data if calibration_data is None else calibration_data
    batches = [split_batch(b, "data.train")[0] for b in islice(source, calibration_batches)]
    calibrate_observers(model, batches)
    train(model, data, task, TrainConfig(steps=steps, lr=lr, seed=seed, progress=progress, description="qat"))
    return (f"BN folded, fake quant {config.activation} activations / s8 per-channel weights "
            f"in [-{config.weight_qmax}, {config.weight_qmax}], "
            f"{calibration_batches} calibration batches, {steps} steps")
