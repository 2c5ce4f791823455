"""Build the objects a recipe names and check everything before any training.

``check_recipe`` imports and calls each factory (model, teacher, data, task), loads the weights
strictly (naming the keys and shapes that do not fit), runs the example input through the
model, computes the loss on one training batch, checks the layer names every step uses, and
dry-runs structured pruning on a copy. Each failure is a ConfigError naming the recipe field.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader

from edge_ai_ros.compression.classification_task import ClassificationTask
from edge_ai_ros.compression.detection_task import DetectionTask
from edge_ai_ros.compression.distill import FeatureTaps
from edge_ai_ros.compression.objects import call_factory, resolve
from edge_ai_ros.compression.prune_check import check_structured
from edge_ai_ros.compression.prune_unstructured import prunable_layers
from edge_ai_ros.compression.recipe import (
    DistillStep,
    PruneStructuredStep,
    PruneUnstructuredStep,
    QatStep,
    Recipe,
    TaskSection,
)
from edge_ai_ros.compression.steps import qat_config
from edge_ai_ros.compression.task import TaskAdapter, split_batch
from edge_ai_ros.compression.weights_io import load_weights
from edge_ai_ros.errors import ConfigError, UnsafeWeightsError
from edge_ai_ros.host import host_features
from edge_ai_ros.int8_format import required_capabilities


@dataclass
class RecipeObjects:
    """What the recipe names, built: the runner and the library API work on these."""

    model: nn.Module
    teacher: nn.Module | None  # a teacher of its own; None = teacher.variant
    task: TaskAdapter
    example: torch.Tensor
    train_data: Callable[[int], Iterable[object]]  # seed -> batches
    eval_data: Iterable[object]


def _path(value: str, base_dir: Path) -> Path:
    return Path(value) if Path(value).is_absolute() else base_dir / value


def build_model(factory: str, kwargs: Mapping[str, Any], weights: str, base_dir: Path, field_name: str) -> nn.Module:
    model: nn.Module = call_factory(factory, kwargs, f"{field_name}.factory", expect=nn.Module, what="an nn.Module")
    if weights:
        load_checked(model, _path(weights, base_dir), f"{field_name}.weights")
    return model.eval()


def load_checked(model: nn.Module, path: Path, field_name: str) -> None:
    """Load a weights file strictly: missing, unexpected and differently shaped keys are named."""
    try:
        state = load_weights(path)
    except (ConfigError, UnsafeWeightsError) as err:
        raise ConfigError(field_name, str(err).split(" (fix: ")[0], fix=err.fix) from err
    own = model.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    shapes = [f"{k} {tuple(state[k].shape)} in the file, {tuple(own[k].shape)} in the model"
              for k in own if k in state and state[k].shape != own[k].shape]
    if missing or unexpected or shapes:
        problems = [f"missing {missing[:5]}" if missing else "", f"unexpected {unexpected[:5]}" if unexpected else "",
                    f"shapes differ: {'; '.join(shapes[:5])}" if shapes else ""]
        raise ConfigError(field_name, f"{path.name} does not fit the model: " + ", ".join(p for p in problems if p),
                          fix="build the model with the factory and kwargs the weights were trained with")
    model.load_state_dict(state, strict=True)


def build_task(section: TaskSection) -> TaskAdapter:
    options = dict(section.options)
    if section.kind == "detection":
        loss_spec = options.pop("loss", "")
        if not loss_spec:
            raise ConfigError("task.loss", "detection needs the model's loss", fix="name a factory: loss: pkg.mod:make_loss")
        loss_fn = call_factory(str(loss_spec), options.pop("loss_kwargs", {}), "task.loss")
        if not callable(loss_fn):
            raise ConfigError("task.loss", f"{loss_spec} returned {type(loss_fn).__name__}, not a loss function",
                              fix="make the factory return loss_fn(outputs, targets)")
        detection: TaskAdapter = _construct(DetectionTask, options, loss_fn=loss_fn)
        return detection
    if section.kind == "classification":
        classification: TaskAdapter = _construct(ClassificationTask, options)
        return classification
    adapter: TaskAdapter = _construct(resolve(section.kind, "task"), options)
    if not isinstance(adapter, TaskAdapter):
        raise ConfigError("task", f"{section.kind} does not make a task adapter",
                          fix="give it the members of compression.task.TaskAdapter")
    return adapter


def _construct(cls: Any, options: Mapping[str, Any], **extra: Any) -> Any:
    try:
        return cls(**options, **extra)
    except TypeError as err:
        raise ConfigError("task", f"options {sorted(options)} do not fit {getattr(cls, '__name__', cls)}: {err}",
                          fix="use the adapter's constructor arguments") from err


def build_objects(recipe: Recipe, base_dir: Path) -> RecipeObjects:
    m, t, d = recipe.model, recipe.teacher, recipe.data
    model = build_model(m.factory, m.kwargs, m.weights, base_dir, "model")
    teacher = None if t.variant else build_model(t.factory or m.factory, t.kwargs, t.weights, base_dir, "teacher")
    task = build_task(recipe.task)

    def train_data(seed: int) -> Iterable[object]:
        data: Iterable[object] = call_factory(d.train, d.train_kwargs, "data.train", seed=seed)
        return data

    eval_data: Iterable[object] = call_factory(d.eval, d.eval_kwargs, "data.eval")
    return RecipeObjects(model=model, teacher=teacher, task=task, example=torch.rand(*recipe.input_shape),
                         train_data=train_data, eval_data=eval_data)


def check_recipe(recipe: Recipe, base_dir: Path) -> RecipeObjects:
    """Build everything the recipe names and run every check that needs no training."""
    objects = build_objects(recipe, base_dir)
    output = _check_forward(objects.model, objects.example, "input_shape", "model")
    check_output = getattr(objects.task, "check_output", None)  # optional adapter hook
    if callable(check_output):
        check_output(tuple(output.shape))
    if objects.teacher is not None:
        _check_forward(objects.teacher, objects.example, "teacher", "teacher")
    _check_data(recipe, objects)
    _check_steps(recipe, objects)
    return objects


def _check_forward(model: nn.Module, example: torch.Tensor, field_name: str, what: str) -> torch.Tensor:
    """The model's (first) output on ``example``; a failure names ``field_name``."""
    try:
        with torch.no_grad():
            out = model.eval()(example)
        return out if isinstance(out, torch.Tensor) else out[0]
    except (RuntimeError, ValueError, TypeError, IndexError) as err:
        raise ConfigError(field_name, f"the {what} does not run on input {list(example.shape)}: {err}",
                          fix="set input_shape to what the model takes") from err


def _in_process(data: Iterable[object]) -> Iterable[object]:
    """A DataLoader that reads its first batch without starting worker processes.

    One batch does not need them, and forked workers leave torch's SIGCHLD handler behind in the
    calling process: a long-lived caller (a test session, a notebook) that started subprocesses
    afterwards crashed in CPython (measured: a segfault in the next ``subprocess.run``).
    """
    if isinstance(data, DataLoader) and data.num_workers:
        single: DataLoader[Any] = copy.copy(data)
        single.num_workers = 0  # allowed after construction; the sampler and collate_fn stay the same
        return single
    return data


def _first(data: Iterable[object], field_name: str) -> tuple[torch.Tensor, Any]:
    if not isinstance(data, Iterable):
        raise ConfigError(field_name, f"returned {type(data).__name__}, not an iterable of batches",
                          fix="return a DataLoader or a list of (inputs, targets)")
    for batch in _in_process(data):
        return split_batch(batch, field_name)
    raise ConfigError(field_name, "gave no batches", fix="return a non-empty data set")


def _check_data(recipe: Recipe, objects: RecipeObjects) -> None:
    for field_name, data in (("data.train", objects.train_data(recipe.seed)), ("data.eval", objects.eval_data)):
        inputs, targets = _first(data, field_name)
        if tuple(inputs.shape[1:]) != tuple(recipe.input_shape[1:]):
            raise ConfigError(field_name, f"gives inputs of shape {list(inputs.shape)}, the recipe's input_shape "
                              f"is {list(recipe.input_shape)}", fix="make input_shape and the data agree")
    trial = copy.deepcopy(objects.model)
    try:
        with torch.no_grad():
            objects.task.loss(objects.task.train_outputs(trial.train(), inputs), targets)
    except (RuntimeError, ValueError, TypeError, IndexError, KeyError, AttributeError) as err:
        raise ConfigError("task", f"the loss fails on a batch of data.train: {type(err).__name__}: {err}",
                          fix="check that the task, its loss and the data's targets belong together") from err


def _check_steps(recipe: Recipe, objects: RecipeObjects) -> None:
    model = objects.model
    for index, step in enumerate(recipe.steps):
        try:
            if isinstance(step, PruneUnstructuredStep):
                prunable_layers(model, step.layers)
            elif isinstance(step, PruneStructuredStep):
                missing = [n for n in step.ignore if n not in dict(model.named_modules())]
                if missing:
                    raise ConfigError("ignore", f"no layer named {missing}", fix="use names from named_modules()")
            elif isinstance(step, DistillStep) and step.feature_layers:
                FeatureTaps(model, objects.teacher or model, step.feature_layers).close()
            elif isinstance(step, QatStep):
                _check_int8_format(recipe, step)
        except ConfigError as err:
            raise ConfigError(f"steps[{index}].{err.field}", str(err).split(": ", 1)[-1].split(" (fix: ")[0],
                              fix=err.fix) from err
        if isinstance(step, PruneStructuredStep):
            check_structured(model, objects.example, ratio=step.ratio, round_to=step.round_to, ignore=step.ignore,
                             field_name=f"steps[{index}]")


def _check_int8_format(recipe: Recipe, step: QatStep) -> None:
    """The QDQ export is checked on this CPU: a format it cannot run exactly would fail after training."""
    from edge_ai_ros.int8_format import Int8Format

    config = qat_config(recipe.export.target, step.weight_qmax)
    fmt = Int8Format(activation=config.activation, weight_qmax=config.weight_qmax, reason="recipe")
    features = host_features()
    if recipe.export.target == "cpu" and required_capabilities(fmt, features) and not features.int8_dot:
        raise ConfigError("weight_qmax", f"{config.weight_qmax} needs an INT8 dot product (VNNI/AMX), which this "
                          "CPU lacks: the export check would fail after training",
                          fix="use weight_qmax: 64 (exact on every x86-64 CPU)")
