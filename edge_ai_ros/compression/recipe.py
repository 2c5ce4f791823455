"""A compression recipe: typed, validated, read from YAML.

A recipe names the user's objects as ``package.module:attribute`` strings: the model factory,
the training and evaluation data factories and the task (``detection``, ``classification`` or
an adapter class). Everything that can be checked without them is checked when the recipe is
read (keys, types, ranges, step kinds, variant names); what needs the objects (factories import
and return the right kind, weights fit, the input runs, layer names exist, structured pruning
works) is checked by ``recipe_check.check_recipe`` before any training. Either way a bad recipe
fails with ConfigError naming the field, before any step runs.

Each step makes one named *variant* from another (``from``, default: the previous step's
variant, or ``baseline`` for the first), so a recipe can branch: prune the baseline, distil
the pruned model, and quantize the baseline in the same run.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, TypeVar

import yaml

from edge_ai_ros.errors import ConfigError

BASELINE = "baseline"
TARGETS = ("cpu", "tensorrt")
TASK_KINDS = ("detection", "classification")
CPU_BACKENDS = ("onnxruntime", "openvino")
T = TypeVar("T")


def _positive(field_name: str, value: float) -> None:
    if value <= 0:
        raise ConfigError(field_name, f"must be > 0, got {value}", fix="use a positive number")


def _at_least_one(field_name: str, value: int, fix: str) -> None:
    if value < 1:
        raise ConfigError(field_name, f"must be >= 1, got {value}", fix=fix)


def _fraction(field_name: str, value: float) -> None:
    if not 0.0 < value < 1.0:
        raise ConfigError(field_name, f"must be in (0, 1), got {value}", fix="use e.g. 0.5")


def _object_spec(field_name: str, value: str, *, required: bool = True) -> None:
    if (required or value) and (not isinstance(value, str) or ":" not in value):
        raise ConfigError(field_name, f"must name an object as 'package.module:attribute', got {value!r}",
                          fix="e.g. my_pkg.models:build")


def _mapping(field_name: str, value: object) -> None:
    if not isinstance(value, Mapping):
        raise ConfigError(field_name, f"must be a mapping of keyword arguments, got {type(value).__name__}",
                          fix="write it as {name: value, ...}")


@dataclass(frozen=True, kw_only=True)
class ModelSection:
    """The model to compress: a factory that builds it, and trained weights (or a budget to train)."""

    factory: str = ""  # "package.module:callable" returning an nn.Module
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    weights: str = ""  # safetensors / weights-only torch state dict; "" = train the baseline first
    train_steps: int = 300  # used only when weights == ""
    lr: float = 2e-3

    def __post_init__(self) -> None:
        _object_spec("model.factory", self.factory)
        _mapping("model.kwargs", self.kwargs)
        _positive("model.lr", self.lr)
        if not self.weights and self.train_steps < 1:
            raise ConfigError("model.train_steps", "must be >= 1 when model.weights is empty",
                              fix="give trained weights or a training budget")


@dataclass(frozen=True, kw_only=True)
class DataSection:
    """Factories of the training and evaluation data: each returns an iterable of (inputs, targets)
    batches. The training factory also gets ``seed=`` (each phase its own) if it takes one."""

    train: str = ""
    train_kwargs: Mapping[str, Any] = field(default_factory=dict)
    eval: str = ""
    eval_kwargs: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _object_spec("data.train", self.train)
        _object_spec("data.eval", self.eval)
        _mapping("data.train_kwargs", self.train_kwargs)
        _mapping("data.eval_kwargs", self.eval_kwargs)


@dataclass(frozen=True, kw_only=True)
class TaskSection:
    """``detection``, ``classification`` or ``package.module:Adapter``; ``options`` go to its constructor."""

    kind: str = ""
    options: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.kind not in TASK_KINDS:
            _object_spec("task", self.kind)


@dataclass(frozen=True, kw_only=True)
class TeacherSection:
    """The teacher of distill steps: a variant of this run (default: the unpruned baseline,
    larger than any pruned student), or a model of its own (factory + kwargs, weights or trained here)."""

    variant: str = BASELINE  # "" = build one with ``factory`` (default: model.factory) and ``kwargs``
    factory: str = ""
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    weights: str = ""
    train_steps: int = 400
    lr: float = 2e-3

    def __post_init__(self) -> None:
        _object_spec("teacher.factory", self.factory, required=False)
        _mapping("teacher.kwargs", self.kwargs)
        if not self.variant and not self.weights and self.train_steps < 1:
            raise ConfigError("teacher.train_steps", "must be >= 1 without teacher.variant or teacher.weights",
                              fix="name a variant (baseline), give weights, or a training budget")


@dataclass(frozen=True, kw_only=True)
class ExportSection:
    opset: int = 17
    dynamic_batch: bool = True
    target: str = "cpu"  # decides the QAT activation type: u8 for CPU runtimes, s8 for TensorRT
    atol: float = 1e-3  # FP32 ONNX vs PyTorch

    def __post_init__(self) -> None:
        if self.target not in TARGETS:
            raise ConfigError("export.target", f"must be one of {TARGETS}, got {self.target!r}", fix="use 'cpu'")
        if not 13 <= self.opset <= 21:
            raise ConfigError("export.opset", f"must be in 13..21 (QDQ per-channel needs 13), got {self.opset}",
                              fix="use 17")


@dataclass(frozen=True, kw_only=True)
class MeasureSection:
    backends: tuple[str, ...] = CPU_BACKENDS
    runs: int = 30
    warmup: int = 5
    threads: int = 2

    def __post_init__(self) -> None:
        unknown = [b for b in self.backends if b not in CPU_BACKENDS]
        if unknown or not self.backends:
            raise ConfigError("measure.backends", f"unknown or empty: {unknown}", fix=f"choose from {CPU_BACKENDS}")
        if self.runs < 1 or self.warmup < 0 or self.threads < 1:
            raise ConfigError("measure", "runs >= 1, warmup >= 0, threads >= 1", fix="use runs 30, warmup 5")


@dataclass(frozen=True, kw_only=True)
class StepBase:
    name: str = ""  # variant name; default "<kind>" (suffixed if repeated)
    source: str = ""  # variant to start from; "" = previous step's variant
    lr: float = 1e-3

    def __post_init__(self) -> None:
        _positive(f"steps.{self.kind}.lr", self.lr)

    kind = "step"


@dataclass(frozen=True, kw_only=True)
class PruneUnstructuredStep(StepBase):
    kind = "prune_unstructured"
    sparsity: float = 0.5
    stages: int = 3
    finetune_steps: int = 30  # per stage
    layers: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        super().__post_init__()
        _fraction("steps.prune_unstructured.sparsity", self.sparsity)
        _at_least_one("steps.prune_unstructured.stages", self.stages, fix="use 3")


@dataclass(frozen=True, kw_only=True)
class PruneStructuredStep(StepBase):
    kind = "prune_structured"
    ratio: float = 0.5
    round_to: int = 8
    finetune_steps: int = 200
    ignore: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        super().__post_init__()
        _fraction("steps.prune_structured.ratio", self.ratio)
        if self.round_to not in (1, 8, 16):
            raise ConfigError("steps.prune_structured.round_to", f"must be 1, 8 or 16, got {self.round_to}",
                              fix="use 8 for CPU, 16 for GPU tensor cores")


@dataclass(frozen=True, kw_only=True)
class DistillStep(StepBase):
    kind = "distill"
    steps: int = 200
    temperature: float = 2.0
    weight: float = 1.0
    feature_layers: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        super().__post_init__()
        _positive("steps.distill.temperature", self.temperature)
        _at_least_one("steps.distill.steps", self.steps, fix="use e.g. 200")


@dataclass(frozen=True, kw_only=True)
class QatStep(StepBase):
    kind = "qat"
    steps: int = 100
    lr: float = 2e-4
    calibration_batches: int = 4
    # INT8 weight range: 64 (7-bit, exact on every x86-64 CPU, VNNI or not) or 127 (needs VNNI/AMX
    # on x86); None = 64 for export.target cpu, 127 for tensorrt
    weight_qmax: int | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        _at_least_one("steps.qat.steps", self.steps, fix="use e.g. 100")
        if self.weight_qmax not in (None, 64, 127):
            raise ConfigError("steps.qat.weight_qmax", f"must be 64 or 127, got {self.weight_qmax}",
                              fix="use 64 (runs right on every x86-64 CPU) or 127 (CPUs with VNNI/AMX, TensorRT)")


@dataclass(frozen=True, kw_only=True)
class PtqStep(StepBase):
    """INT8 post-training quantization by the compiler (its calibration, its accuracy gate)."""

    kind = "ptq"
    backend: str = "onnxruntime"
    calibration_images: int = 64  # training inputs the compiler calibrates with (a share held out for its gate)

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.backend not in CPU_BACKENDS:
            raise ConfigError("steps.ptq.backend", f"must be one of {CPU_BACKENDS}, got {self.backend!r}",
                              fix="use 'onnxruntime'")


Step = PruneUnstructuredStep | PruneStructuredStep | DistillStep | QatStep | PtqStep
STEP_KINDS: dict[str, type[StepBase]] = {
    cls.kind: cls for cls in (PruneUnstructuredStep, PruneStructuredStep, DistillStep, QatStep, PtqStep)
}


@dataclass(frozen=True, kw_only=True)
class Recipe:
    name: str
    output_dir: Path
    steps: tuple[StepBase, ...]
    model: ModelSection
    data: DataSection
    task: TaskSection
    input_shape: tuple[int, ...]  # e.g. (1, 3, 224, 224): the example input every check runs
    teacher: TeacherSection = field(default_factory=TeacherSection)
    export: ExportSection = field(default_factory=ExportSection)
    measure: MeasureSection = field(default_factory=MeasureSection)
    seed: int = 0

    def __post_init__(self) -> None:
        if len(self.input_shape) < 2 or any(not isinstance(d, int) or d < 1 for d in self.input_shape):
            raise ConfigError("input_shape", f"must be a list of positive sizes, got {list(self.input_shape)}",
                              fix="give the model's input, e.g. [1, 3, 224, 224]")
        if not self.steps:
            raise ConfigError("steps", "the recipe has no steps", fix=f"add steps of kinds {sorted(STEP_KINDS)}")
        known = {BASELINE}
        for index, step in enumerate(self.steps):
            if step.source and step.source not in known:
                raise ConfigError(f"steps[{index}].from", f"names unknown variant {step.source!r}",
                                  fix=f"use one made earlier: {sorted(known)}")
            if step.name in known:
                raise ConfigError(f"steps[{index}].name", f"variant {step.name!r} already exists", fix="rename it")
            known.add(step.name)
            if isinstance(step, DistillStep) and self.teacher.variant and self.teacher.variant not in known:
                raise ConfigError("teacher.variant", f"{self.teacher.variant!r} is not made before steps[{index}]",
                                  fix="use 'baseline' or a variant made by an earlier step")

    def variant_sources(self) -> list[tuple[StepBase, str]]:
        """(step, name of the variant it starts from), resolving the 'previous step' default."""
        previous, out = BASELINE, []
        for step in self.steps:
            out.append((step, step.source or previous))
            previous = step.name
        return out


def _build(cls: type[T], data: Any, where: str) -> T:
    """Construct a section dataclass from a mapping, refusing unknown keys and wrong types."""
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise ConfigError(where, f"must be a mapping, got {type(data).__name__}", fix="see config/compress_demo.yaml")
    allowed = {f.name for f in fields(cls)}  # type: ignore[arg-type]
    values = {("source" if k == "from" else k): v for k, v in data.items() if k != "kind"}
    unknown = sorted(set(values) - allowed)
    if unknown:
        raise ConfigError(f"{where}.{unknown[0]}", "unknown key", fix=f"use only {sorted({'from' if a == 'source' else a for a in allowed})}")
    for key in ("layers", "ignore", "backends"):
        if isinstance(values.get(key), list):
            values[key] = tuple(values[key])
    if isinstance(values.get("feature_layers"), list):
        values["feature_layers"] = tuple(tuple(pair) for pair in values["feature_layers"])
    try:
        return cls(**values)
    except TypeError as err:
        raise ConfigError(where, str(err), fix="see config/compress_demo.yaml") from err


def _step(data: Any, index: int) -> StepBase:
    kind = data.get("kind") if isinstance(data, Mapping) else None
    if kind not in STEP_KINDS:
        raise ConfigError(f"steps[{index}].kind", f"unknown step {kind!r}", fix=f"use one of {sorted(STEP_KINDS)}")
    step = _build(STEP_KINDS[kind], data, f"steps[{index}]")
    return step


def _name_steps(steps: list[StepBase]) -> tuple[StepBase, ...]:
    from dataclasses import replace

    seen: dict[str, int] = {}
    named = []
    for step in steps:
        base = step.name or step.kind
        seen[base] = seen.get(base, 0) + 1
        named.append(step if step.name else replace(step, name=base if seen[base] == 1 else f"{base}{seen[base]}"))
    return tuple(named)


def _task(data: Any) -> TaskSection:
    if isinstance(data, str) or data is None:
        return TaskSection(kind=data or "")
    if not isinstance(data, Mapping):
        raise ConfigError("task", f"must be a name or a mapping, got {type(data).__name__}",
                          fix="use detection, classification or package.module:Adapter")
    options = {k: v for k, v in data.items() if k != "kind"}
    return TaskSection(kind=str(data.get("kind", "")), options=options)


def _input_shape(data: Any) -> tuple[int, ...]:
    if not isinstance(data, list | tuple):
        raise ConfigError("input_shape", f"must be a list, got {data!r}", fix="e.g. input_shape: [1, 3, 224, 224]")
    return tuple(data)


def recipe_from_dict(data: Mapping[str, Any], *, base_dir: Path) -> Recipe:
    allowed = {"name", "output_dir", "steps", "model", "data", "task", "input_shape", "teacher", "export",
               "measure", "seed"}
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise ConfigError(unknown[0], "unknown top-level key", fix=f"use only {sorted(allowed)}")
    raw_steps = data.get("steps") or []
    if not isinstance(raw_steps, list):
        raise ConfigError("steps", "must be a list", fix="list steps, each with a 'kind'")
    return Recipe(
        name=str(data.get("name", "compression")),
        output_dir=(base_dir / str(data.get("output_dir", "compress_out"))).resolve(),
        steps=_name_steps([_step(s, i) for i, s in enumerate(raw_steps)]),
        model=_build(ModelSection, data.get("model"), "model"),
        data=_build(DataSection, data.get("data"), "data"),
        task=_task(data.get("task")),
        input_shape=_input_shape(data.get("input_shape")),
        teacher=_build(TeacherSection, data.get("teacher"), "teacher"),
        export=_build(ExportSection, data.get("export"), "export"),
        measure=_build(MeasureSection, data.get("measure"), "measure"),
        seed=int(data.get("seed", 0)),
    )


def load_recipe(path: str | Path) -> Recipe:
    source = Path(path)
    try:
        data = yaml.safe_load(source.read_text(encoding="utf-8"))
    except OSError as err:
        raise ConfigError("recipe", f"cannot read {source}: {err.strerror}", fix="pass an existing YAML file") from err
    except yaml.YAMLError as err:
        raise ConfigError("recipe", f"{source} is not valid YAML: {err}", fix="fix the YAML syntax") from err
    if not isinstance(data, Mapping):
        raise ConfigError("recipe", f"{source} must hold a mapping", fix="see config/compress_demo.yaml")
    return recipe_from_dict(data, base_dir=source.parent)
