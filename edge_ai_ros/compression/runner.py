"""Run a compression recipe end to end: check, make every variant, measure, report.

The recipe names the model, data and task (``recipe_check.build_objects``); every check that
needs no training runs first (``recipe_check.check_recipe``). All output goes to a hidden
staging folder beside ``output_dir`` and replaces it with one rename at the very end, so an
interrupted (Ctrl-C) or failed run leaves the previous results untouched and no half-written
files. Layout of the result::

    <output_dir>/<variant>/model.safetensors, model.onnx, model.onnx.manifest.json
    <output_dir>/report.md, report.json, accuracy_vs_latency.png, size.png
"""

from __future__ import annotations

import copy
import sys
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from torch import nn

from edge_ai_ros.atomic_io import atomic_output_dir
from edge_ai_ros.compression import steps as api
from edge_ai_ros.compression.export_step import ExportOptions, export_fp32, export_qdq
from edge_ai_ros.compression.measure import LatencyConfig, VariantMeasurement, time_interleaved
from edge_ai_ros.compression.model_stats import ModelStats, file_stats, model_stats
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
from edge_ai_ros.compression.recipe_check import RecipeObjects, check_recipe
from edge_ai_ros.compression.report import write_report
from edge_ai_ros.compression.task import onnx_predict, split_batch
from edge_ai_ros.compression.weights_io import save_weights
from edge_ai_ros.errors import AccuracyGateError, ConfigError, EdgeAiError

SEED_OFFSETS = {"prune_unstructured": 1000, "prune_structured": 2000, "distill": 3000, "qat": 4001,
                "qat_calibration": 4000, "teacher": 500, "ptq": 6000}


@dataclass
class Variant:
    name: str
    step: str
    source: str
    model: nn.Module | None  # None for a compiler-built artifact (PTQ)
    onnx_path: Path
    precision: str
    row: VariantMeasurement


def _say(message: str) -> None:
    print(f"[compress] {message}", file=sys.stderr, flush=True)


class _Run:
    def __init__(self, recipe: Recipe, objects: RecipeObjects, stage: Path, progress: bool) -> None:
        self.recipe, self.objects, self.stage, self.progress = recipe, objects, stage, progress
        self.example = objects.example
        m = recipe.measure
        self.latency = LatencyConfig(backends=m.backends, runs=m.runs, warmup=m.warmup, threads=m.threads)
        self.variants: dict[str, Variant] = {}
        self.notes: list[str] = []
        check_inputs = split_batch(next(iter(objects.eval_data)), "data.eval")[0]
        e = recipe.export
        self.export_options = ExportOptions(check_input=check_inputs[:1].float(), model_id=recipe.name, opset=e.opset,
                                            dynamic_batch=e.dynamic_batch, atol=e.atol)

    def train_data(self, key: str) -> Iterable[object]:
        return self.objects.train_data(self.recipe.seed + SEED_OFFSETS[key])

    def train_baseline(self) -> None:
        r = self.recipe
        if not r.model.weights:
            _say(f"training the baseline for {r.model.train_steps} steps")
            api.finetune(self.objects.model, self.objects.train_data(r.seed), self.objects.task,
                         steps=r.model.train_steps, lr=r.model.lr, seed=r.seed, progress=self.progress,
                         description="baseline")
        teacher, t = self.objects.teacher, r.teacher
        if teacher is not None and not t.weights and any(isinstance(s, DistillStep) for s in r.steps):
            _say(f"training the teacher for {t.train_steps} steps")
            api.finetune(teacher, self.train_data("teacher"), self.objects.task, steps=t.train_steps, lr=t.lr,
                         seed=r.seed + SEED_OFFSETS["teacher"], progress=self.progress, description="teacher")
            save_weights(teacher, self.stage / "teacher" / "model.safetensors")
        note = "the model as given" if r.model.weights else f"trained here for {r.model.train_steps} steps"
        self.add(BASELINE, BASELINE, "", self.objects.model, self.objects.model, note)

    def add(self, name: str, step: str, source: str, model: nn.Module, stats_model: nn.Module, note: str) -> None:
        folder = self.stage / name
        build: dict[str, object] = {"compression": {"variant": name, "step": step, "from": source, "note": note}}
        stats = model_stats(stats_model, self.example)
        save_weights(model, folder / "model.safetensors")
        exporter = export_qdq if step == "qat" else export_fp32
        options = replace(self.export_options, model_id=f"{self.recipe.name}-{name}", build=build)
        exported = exporter(model, folder / "model.onnx", self.objects.task, options)
        precision = "int8" if step == "qat" else "fp32"
        self._measure(name, step, source, model, exported.onnx_path, precision, stats, note)

    def _measure(self, name: str, step: str, source: str, model: nn.Module | None, onnx_path: Path,
                 precision: str, stats: ModelStats, note: str) -> None:
        task = self.objects.task
        _say(f"measuring {name}: {task.metric_name} on data.eval through ONNX Runtime")
        metric = task.evaluate(onnx_predict(onnx_path), (split_batch(b, "data.eval") for b in self.objects.eval_data))
        files = file_stats(onnx_path)
        row = VariantMeasurement(
            name=name, step=step, source=source, precision=precision, params=stats.params, macs=stats.macs,
            sparsity=stats.sparsity, file_bytes=files.bytes, compressed_bytes=files.compressed_bytes,
            metric=metric, metric_name=task.metric_name, onnx_path=str(onnx_path.relative_to(self.stage)), notes=note,
        )
        self.variants[name] = Variant(name=name, step=step, source=source, model=model, onnx_path=onnx_path,
                                      precision=precision, row=row)
        _say(f"{name}: {task.metric_name} {100 * metric:.2f}")

    def time_all(self) -> list[VariantMeasurement]:
        """Latency of every variant on every backend, interleaved (see measure.time_interleaved)."""
        _say(f"timing {len(self.variants)} variants on {', '.join(self.latency.backends)} (interleaved)")
        models = {name: (v.onnx_path, v.precision) for name, v in self.variants.items()}
        latency, errors = time_interleaved(models, (1, *self.example.shape[1:]), config=self.latency)
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
        stats_model = copy.deepcopy(model) if isinstance(step, QatStep) else model
        note = self._apply(step, model)
        self.add(step.name, step.kind, source, model, stats_model, note)

    def _apply(self, step: StepBase, model: nn.Module) -> str:
        r, task, seed = self.recipe, self.objects.task, self.recipe.seed + SEED_OFFSETS.get(step.kind, 0)
        common: dict[str, Any] = {"seed": seed, "progress": self.progress}
        if isinstance(step, PruneUnstructuredStep):
            return api.prune_unstructured_step(model, self.train_data(step.kind), task, sparsity=step.sparsity,
                                               stages=step.stages, finetune_steps=step.finetune_steps, lr=step.lr,
                                               layers=step.layers, **common)
        if isinstance(step, PruneStructuredStep):
            result = api.prune_structured_step(model, self.example, self.train_data(step.kind), task, ratio=step.ratio,
                                               round_to=step.round_to, ignore=step.ignore,
                                               finetune_steps=step.finetune_steps, lr=step.lr, **common)
            return api.structured_note(result, step.finetune_steps)
        if isinstance(step, DistillStep):
            return api.distill_step(model, self.resolve_teacher(), self.train_data(step.kind), task, steps=step.steps,
                                    lr=step.lr, temperature=step.temperature, weight=step.weight,
                                    feature_layers=step.feature_layers, **common)
        if isinstance(step, QatStep):
            return api.qat_step(model, self.example, self.train_data(step.kind), task, steps=step.steps, lr=step.lr,
                                calibration_data=self.train_data("qat_calibration"),
                                calibration_batches=step.calibration_batches, target=r.export.target,
                                weight_qmax=step.weight_qmax, **common)
        raise ConfigError("steps.kind", f"unknown step {step.kind!r}", fix="see recipe.STEP_KINDS")

    def resolve_teacher(self) -> nn.Module:
        if self.recipe.teacher.variant:
            model = self.variants[self.recipe.teacher.variant].model
            assert model is not None
            return copy.deepcopy(model)
        assert self.objects.teacher is not None
        return self.objects.teacher

    def run_ptq(self, step: PtqStep, origin: Variant) -> None:
        from edge_ai_ros.compression.ptq import compile_int8

        try:
            engine = compile_int8(origin.onnx_path, self.stage / step.name, self.train_data("ptq"),
                                  backend=step.backend, count=step.calibration_images)
        except AccuracyGateError as err:
            self.notes.append(f"{step.name}: the compiler's accuracy gate refused the INT8 engine: {err}")
            _say(self.notes[-1])
            return
        assert origin.model is not None
        stats = model_stats(origin.model, self.example)
        note = f"compiler INT8 ({step.backend}, {step.calibration_images} calibration inputs, accuracy gate passed)"
        self._measure(step.name, step.kind, origin.name, None, engine, "int8", stats, note)


def run_recipe(recipe: Recipe, *, base_dir: Path, progress: bool = True) -> Path:
    """Check, then run every step; returns the path of report.md inside ``recipe.output_dir``."""
    objects = check_recipe(recipe, base_dir)  # before any training
    target = recipe.output_dir
    with atomic_output_dir(target) as stage:  # the old results go only once the new ones are complete
        run = _Run(recipe, objects, stage, progress)
        run.train_baseline()
        for step, source in recipe.variant_sources():
            _say(f"step {step.name} ({step.kind}) from {source}")
            run.run_step(step, source)
        rows = run.time_all()
        write_report(rows, stage, title=f"Compression report: {recipe.name}", backends=recipe.measure.backends,
                     notes=run.notes)
    return target / "report.md"


__all__ = ["EdgeAiError", "check_recipe", "run_recipe"]
