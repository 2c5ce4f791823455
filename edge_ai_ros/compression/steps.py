"""Apply one recipe step to a model, training with the demo task's ``train_detector``.

Each function changes the model in place and returns a short note for the report. Fine-
tuning, distillation and QAT all reuse the one training loop (progress lines on stderr,
Ctrl-C stops it; the runner then discards the half-made run).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from edge_ai_ros.compression.distill import DistillConfig, distillation
from edge_ai_ros.compression.prune_structured import prune_channels
from edge_ai_ros.compression.prune_unstructured import prune_unstructured
from edge_ai_ros.compression.qat import QatConfig, calibrate_observers, prepare_qat
from edge_ai_ros.compression.recipe import DistillStep, PruneStructuredStep, PruneUnstructuredStep, QatStep, Recipe


def _trainer(recipe: Recipe, progress: bool) -> Callable[..., nn.Module]:
    from edge_ai_ros.demo.train import train_detector

    def train(model: nn.Module, *, steps: int, lr: float, seed: int, **kwargs: object) -> nn.Module:
        return train_detector(model, steps=steps, batch_size=recipe.data.batch_size, lr=lr, seed=seed,
                              progress=progress, workers=recipe.data.workers, **kwargs)  # type: ignore[arg-type]

    return train


def apply_prune_unstructured(model: nn.Module, step: PruneUnstructuredStep, recipe: Recipe, *,
                             progress: bool) -> str:
    train = _trainer(recipe, progress)

    def finetune(m: nn.Module, stage: int) -> None:
        if step.finetune_steps:
            train(m, steps=step.finetune_steps, lr=step.lr, seed=recipe.seed + 1000 + stage)

    result = prune_unstructured(model, sparsity=step.sparsity, stages=step.stages, layers=step.layers,
                                finetune=finetune)
    return (f"global magnitude, cubic schedule {[round(s, 3) for s in result.schedule]}, "
            f"{step.finetune_steps} fine-tune steps per stage; sparsity {result.achieved_sparsity:.3f}")


def apply_prune_structured(model: nn.Module, step: PruneStructuredStep, recipe: Recipe, example: torch.Tensor, *,
                           progress: bool) -> str:
    result = prune_channels(model, example, ratio=step.ratio, round_to=step.round_to, ignore=step.ignore)
    if step.finetune_steps:
        _trainer(recipe, progress)(model, steps=step.finetune_steps, lr=step.lr, seed=recipe.seed + 2000)
    return (f"{100 * (1 - result.kept_fraction):.0f}% of conv channels removed (round to {step.round_to}), "
            f"{step.finetune_steps} fine-tune steps")


def apply_distill(model: nn.Module, teacher: nn.Module, step: DistillStep, recipe: Recipe, *, progress: bool) -> str:
    config = DistillConfig(temperature=step.temperature, weight=step.weight, feature_layers=step.feature_layers)
    with distillation(model, teacher, config) as distill_fn:
        _trainer(recipe, progress)(model, steps=step.steps, lr=step.lr, seed=recipe.seed + 3000,
                                   teacher=teacher, distill_fn=distill_fn)
    features = f", attention transfer on {len(step.feature_layers)} layer pairs" if step.feature_layers else ""
    return f"logit KD T={step.temperature} weight={step.weight}{features}, {step.steps} steps"


def apply_qat(model: nn.Module, step: QatStep, recipe: Recipe, example: torch.Tensor, *, progress: bool) -> str:
    from edge_ai_ros.demo.dataset import SceneDataset, collate

    cpu = recipe.export.target == "cpu"
    config = QatConfig.for_target("cpu" if cpu else "tensorrt", quantize_outputs=cpu)  # this host's INT8 format
    prepare_qat(model, example, config)
    calib = SceneDataset(length=step.calibration_batches * recipe.data.batch_size, seed=recipe.seed + 4000)
    size = recipe.data.batch_size
    batches = [collate([calib[b * size + i] for i in range(size)])[0] for b in range(step.calibration_batches)]
    calibrate_observers(model, batches)
    _trainer(recipe, progress)(model, steps=step.steps, lr=step.lr, seed=recipe.seed + 4001)
    return (f"BN folded, fake quant {config.activation} activations / s8 per-channel weights "
            f"in [-{config.weight_qmax}, {config.weight_qmax}], "
            f"{step.calibration_batches} calibration batches, {step.steps} steps")
