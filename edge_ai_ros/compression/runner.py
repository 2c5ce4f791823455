"""Run a compression recipe end to end: validate, make every variant, measure, report.

All output goes to a hidden staging folder beside ``output_dir`` and replaces it with one
rename at the very end, so an interrupted (Ctrl-C) or failed run leaves the previous
results untouched and no half-written files. Layout of the result::

    <output_dir>/<variant>/model.safetensors, model.onnx, model.onnx.manifest.json
    <output_dir>/report.md, report.json, accuracy_vs_latency.png, size.png
"""

from __future__ import annotations

import copy
import shutil
import sys
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path

import torch
from torch import nn

from edge_ai_ros.compression import steps as step_impl
from edge_ai_ros.compression.distill import FeatureTaps
from edge_ai_ros.compression.measure import LatencyConfig, VariantMeasurement, time_interleaved
from edge_ai_ros.compression.model_stats import file_stats, model_stats
from edge_ai_ros.compression.prune_unstructured import prunable_layers
from edge_ai_ros.compression.recipe import (
    BASELINE,
    DistillStep,
    PruneStructuredStep,
    PruneUnstructuredStep,
    PtqStep,
    QatStep,
    Recipe,
    StepBase,
)
from edge_ai_ros.compression.report import write_report
from edge_ai_ros.compression.weights_io import load_weights, load_weights_into, save_weights
from edge_ai_ros.errors import AccuracyGateError, ConfigError, EdgeAiError


@dataclass
class Variant:
    name: str
    step: str
    source: str
    model: nn.Module | None  # None for a compiler-built artifact (PTQ)
    onnx_path: Path
    precision: str
    row: VariantMeasurement


def build_detector(width: float, weights: str, base_dir: Path | None = None) -> nn.Module:
    from edge_ai_ros.models.detector import Detector, DetectorConfig

    model = Detector(DetectorConfig.scaled(width))
    if weights:
        path = Path(weights) if base_dir is None or Path(weights).is_absolute() else base_dir / weights
        load_weights_into(model, load_weights(path))
    return model.eval()


def validate_against_model(recipe: Recipe, model: nn.Module, teacher: nn.Module | None) -> None:
    """Every check that needs the model, before any training: input size, layer names."""
    from edge_ai_ros.demo.dataset import DEMO_PREPROCESS

    size = int(getattr(getattr(model, "config", None), "input_size", 0))
    data_size = (DEMO_PREPROCESS.width, DEMO_PREPROCESS.height)
    if tuple(recipe.data.image_size) != (size, size) or data_size != (size, size):
        raise ConfigError("data.image_size", f"is {list(recipe.data.image_size)} and the demo data is "
                          f"{list(data_size)}, but the model takes {size}x{size}",
                          fix=f"set data.image_size to [{size}, {size}] and use a model built for the data")
    for index, step in enumerate(recipe.steps):
        try:
            if isinstance(step, PruneUnstructuredStep):
                prunable_layers(model, step.layers)
            elif isinstance(step, PruneStructuredStep):
                names = dict(model.named_modules())
                missing = [n for n in step.ignore if n not in names]
                if missing:
                    raise ConfigError("ignore", f"no layer named {missing}", fix="use names from named_modules()")
            elif isinstance(step, DistillStep) and step.feature_layers and teacher is not None:
                FeatureTaps(model, teacher, step.feature_layers).close()
        except ConfigError as err:
            raise ConfigError(f"steps[{index}].{err.field}", str(err).split(": ", 1)[-1], fix=err.fix) from err


def _say(message: str) -> None:
    print(f"[compress] {message}", file=sys.stderr, flush=True)


class _Run:
    def __init__(self, recipe: Recipe, stage: Path, base_dir: Path, progress: bool) -> None:
        self.recipe, self.stage, self.base_dir, self.progress = recipe, stage, base_dir, progress
        size = recipe.data.image_size[0]
        self.example = torch.rand(1, 3, size, size)
        self.latency = LatencyConfig(backends=recipe.measure.backends, runs=recipe.measure.runs,
                                     warmup=recipe.measure.warmup, threads=recipe.measure.threads)
        self.variants: dict[str, Variant] = {}
        self.notes: list[str] = []
        self.teacher: nn.Module | None = None  # a separate teacher; None = teacher.variant

    def prepare_teacher(self) -> None:
        """Train a separate teacher if the recipe asks for one without weights."""
        t = self.recipe.teacher
        needed = any(isinstance(s, DistillStep) for s in self.recipe.steps)
        if self.teacher is None or t.weights or not needed:
            return
        _say(f"training the teacher (width {t.width}) for {t.train_steps} steps")
        step_impl._trainer(self.recipe, self.progress)(self.teacher, steps=t.train_steps, lr=t.lr,
                                                       seed=self.recipe.seed + 500)
        save_weights(self.teacher, self.stage / "teacher" / "model.safetensors")

    def add(self, name: str, step: str, source: str, model: nn.Module, stats_model: nn.Module, note: str) -> None:
        from edge_ai_ros.compression.export_step import export_fp32, export_qdq

        folder = self.stage / name
        build: dict[str, object] = {"compression": {"variant": name, "step": step, "from": source, "note": note}}
        stats = model_stats(stats_model, self.example)
        save_weights(model, folder / "model.safetensors")
        e = self.recipe.export
        exporter = export_qdq if step == "qat" else export_fp32
        exported = exporter(model, folder / "model.onnx", opset=e.opset, dynamic_batch=e.dynamic_batch, build=build)
        precision = "int8" if step == "qat" else "fp32"
        self._measure(name, step, source, model, exported.onnx_path, precision, stats, note)

    def _measure(self, name: str, step: str, source: str, model: nn.Module | None, onnx_path: Path,
                 precision: str, stats: object, note: str) -> None:
        from edge_ai_ros.demo.evaluate import evaluate_map, onnx_predict_fn

        _say(f"measuring {name}: mAP on {self.recipe.data.val_images} held-out scenes, latency on "
             f"{', '.join(self.latency.backends)}")
        map50 = evaluate_map(onnx_predict_fn(onnx_path), num_images=self.recipe.data.val_images,
                             seed=self.recipe.data.seed).map
        files = file_stats(onnx_path)
        row = VariantMeasurement(
            name=name, step=step, source=source, precision=precision, params=stats.params, macs=stats.macs,  # type: ignore[attr-defined]
            sparsity=stats.sparsity, file_bytes=files.bytes, compressed_bytes=files.compressed_bytes,  # type: ignore[attr-defined]
            map50=map50, onnx_path=str(onnx_path.relative_to(self.stage)), notes=note,
        )
        self.variants[name] = Variant(name=name, step=step, source=source, model=model, onnx_path=onnx_path,
                                      precision=precision, row=row)
        _say(f"{name}: mAP@0.5 {100 * map50:.2f}")

    def time_all(self) -> list[VariantMeasurement]:
        """Latency of every variant on every backend, interleaved (see measure.time_interleaved)."""
        _say(f"timing {len(self.variants)} variants on {', '.join(self.latency.backends)} (interleaved)")
        models = {name: (v.onnx_path, v.precision) for name, v in self.variants.items()}
        latency, errors = time_interleaved(models, tuple(self.example.shape), config=self.latency)
        rows = [replace(v.row, latency_ms=latency[n], latency_errors=errors[n]) for n, v in self.variants.items()]
        for row in rows:
            _say(f"{row.name}: " + ", ".join(f"{b} {ms:.2f} ms" for b, ms in row.latency_ms.items()))
        return rows

    def run_step(self, step: StepBase, source: str) -> None:
        origin = self.variants[source]
        if isinstance(step, PtqStep):
            self.run_ptq(step, origin)
            return
        if origin.model is None or origin.precision != "fp32":
            raise ConfigError(f"steps.{step.name}.from", f"variant {source!r} is not a float PyTorch model",
                              fix="start training steps from baseline or a pruned/distilled variant")
        model = copy.deepcopy(origin.model)
        stats_model = model
        if isinstance(step, PruneUnstructuredStep):
            note = step_impl.apply_prune_unstructured(model, step, self.recipe, progress=self.progress)
        elif isinstance(step, PruneStructuredStep):
            note = step_impl.apply_prune_structured(model, step, self.recipe, self.example, progress=self.progress)
        elif isinstance(step, DistillStep):
            note = step_impl.apply_distill(model, self.resolve_teacher(), step, self.recipe, progress=self.progress)
        elif isinstance(step, QatStep):
            stats_model = copy.deepcopy(model)
            note = step_impl.apply_qat(model, step, self.recipe, self.example, progress=self.progress)
        else:
            raise ConfigError("steps.kind", f"unknown step {step.kind!r}", fix="see recipe.STEP_KINDS")
        self.add(step.name, step.kind, source, model, stats_model, note)

    def resolve_teacher(self) -> nn.Module:
        if self.recipe.teacher.variant:
            model = self.variants[self.recipe.teacher.variant].model
            assert model is not None
            return copy.deepcopy(model)
        assert self.teacher is not None
        return self.teacher

    def run_ptq(self, step: PtqStep, origin: Variant) -> None:
        from edge_ai_ros.compression.ptq import compile_int8

        try:
            engine = compile_int8(origin.onnx_path, self.stage / step.name, backend=step.backend,
                                  images=step.calibration_images, seed=self.recipe.seed + 6000)
        except AccuracyGateError as err:
            self.notes.append(f"{step.name}: the compiler's accuracy gate refused the INT8 engine: {err}")
            _say(self.notes[-1])
            return
        stats = model_stats(origin.model, self.example) if origin.model is not None else origin.row
        note = f"compiler INT8 ({step.backend}, {step.calibration_images} calibration scenes, accuracy gate passed)"
        self._measure(step.name, step.kind, origin.name, None, engine, "int8", stats, note)


def run_recipe(recipe: Recipe, *, base_dir: Path, progress: bool = True) -> Path:
    """Run every step; returns the path of report.md inside ``recipe.output_dir``."""
    target = recipe.output_dir
    target.parent.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=f".{target.name}.partial-", dir=target.parent))
    stage.chmod(0o755)  # mkdtemp makes it private; the result is an ordinary output folder
    try:
        baseline = build_detector(recipe.model.width, recipe.model.weights, base_dir)
        run = _Run(recipe, stage, base_dir, progress)
        t = recipe.teacher
        teacher = baseline if t.variant else build_detector(t.width, t.weights, base_dir)
        validate_against_model(recipe, baseline, teacher)  # before any training
        run.teacher = None if t.variant else teacher
        _run_all(run, baseline)
        rows = run.time_all()
        write_report(rows, stage, title=f"Compression report: {recipe.name}", backends=recipe.measure.backends,
                     notes=run.notes)
        _replace_dir(stage, target)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    return target / "report.md"


def _run_all(run: _Run, baseline: nn.Module) -> None:
    recipe = run.recipe
    if not recipe.model.weights:
        _say(f"training the baseline for {recipe.model.train_steps} steps")
        step_impl._trainer(recipe, run.progress)(baseline, steps=recipe.model.train_steps, lr=recipe.model.lr,
                                                 seed=recipe.seed)
    run.add(BASELINE, BASELINE, "", baseline, baseline, "the model as given" if recipe.model.weights else
            f"trained here for {recipe.model.train_steps} steps")
    run.prepare_teacher()
    for step, source in recipe.variant_sources():
        _say(f"step {step.name} ({step.kind}) from {source}")
        run.run_step(step, source)


def _replace_dir(stage: Path, target: Path) -> None:
    """Swap the finished staging folder into place; the old results go only after that."""
    old = None
    if target.exists():
        old = target.with_name(f".{target.name}.old-{stage.name[-8:]}")
        target.rename(old)
    stage.rename(target)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


__all__ = ["EdgeAiError", "build_detector", "run_recipe", "validate_against_model"]
