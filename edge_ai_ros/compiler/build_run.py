"""One build on one backend: ONNX in, cached engine + manifest out, with progress and cancel.

Stages (reported to the progress callback as (stage, 0..1, detail)): loading,
calibrating, quantizing, building, validating, writing. Everything is built in a private
staging folder and enters the cache with one rename after the accuracy gate passes, so a
failure at any stage leaves no artifact and no cache entry changed.
"""

from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from edge_ai_ros.artifact_files import describe_files
from edge_ai_ros.atomic_io import atomic_output_path, file_sha256
from edge_ai_ros.compiler.accuracy_gate import DEFAULT_MAX_DROP, GateReport, run_gate
from edge_ai_ros.compiler.backend_builders import BackendBuilder, choose_builder
from edge_ai_ros.compiler.cache import CacheEntry, EngineCache
from edge_ai_ros.compiler.cache_key import CacheKeyInputs
from edge_ai_ros.compiler.calibrate.quantize_qdq import QdqOptions, quantize_to_qdq
from edge_ai_ros.compiler.calibration_data import CalibrationConfig, CalibrationSet, load_calibration_set
from edge_ai_ros.compiler.host_facts import build_int8_format, engine_host_record, qdq_weight_format
from edge_ai_ros.compiler.source_model import SourceModel, load_source_model
from edge_ai_ros.compiler.tensorrt_options import TensorRtOptions
from edge_ai_ros.errors import AccuracyGateError, CompileError, ConfigError, EdgeAiError, EngineError, StorageError
from edge_ai_ros.int8_format import Int8Format
from edge_ai_ros.manifest import ArtifactSpec, ModelManifest, manifest_path_for, save_manifest
from edge_ai_ros.storage_faults import diagnose as diagnose_storage
from edge_ai_ros.storage_faults import storage_error

LOG = logging.getLogger(__name__)
PRECISIONS = ("fp32", "fp16", "bf16", "int8")
Progress = Callable[[str, float, str], None]


class CompileCancelled(CompileError):
    """The caller asked to stop; nothing was written."""


@dataclass(frozen=True, kw_only=True)
class BuildOptions:
    """One compile request; every field that changes the engine ends up in the cache key."""

    onnx_path: str
    precision: str = "int8"
    backend: str = "auto"
    calibration: CalibrationConfig | None = None
    max_drop: float = DEFAULT_MAX_DROP
    keep_layers: tuple[str, ...] = ()
    auto_keep: int = 0
    cache_dir: str = ".cache/engines"
    out_dir: str = ""
    tensorrt: TensorRtOptions = field(default_factory=TensorRtOptions)
    # the FP32 model the accuracy gate compares with; "" = the source itself (run at FP32). A QAT
    # model's source is already INT8, so its float parent is the honest reference.
    reference_onnx: str = ""

    def __post_init__(self) -> None:
        if self.precision not in PRECISIONS:
            raise ConfigError("precision", f"{self.precision!r} is not one of {PRECISIONS}", fix="pick one")
        if self.max_drop < 0 or self.auto_keep < 0:
            raise ConfigError("max_drop", "max_drop and auto_keep must not be negative", fix="use 0 or more")


@dataclass(frozen=True, kw_only=True)
class BuildResult:
    engine_path: Path
    manifest_path: Path
    manifest: ModelManifest
    cache_hit: bool
    cache_key: str


def _no_progress(stage: str, fraction: float, detail: str) -> None:
    LOG.debug("%s %.0f%% %s", stage, 100 * fraction, detail)


class _Run:
    """One build's state; methods are its stages in order."""

    def __init__(self, options: BuildOptions, progress: Progress, cancelled: Callable[[], bool]) -> None:
        self.options, self._progress, self._cancelled = options, progress, cancelled
        self.cache = EngineCache(options.cache_dir)
        self.precision = options.precision  # what is built; see _effective_precision

    def step(self, stage: str, fraction: float, detail: str = "") -> None:
        if self._cancelled():
            raise CompileCancelled(f"build cancelled during {stage}", fix="start it again when wanted")
        self._progress(stage, fraction, detail)

    def execute(self) -> BuildResult:
        o = self.options
        self.step("loading", 0.0, o.onnx_path)
        source = load_source_model(o.onnx_path)
        self.precision = self._effective_precision(source)
        builder = choose_builder(o.backend, self.precision, o.tensorrt)
        calib = self._calibration(source)
        key_inputs = self._key_inputs(source, builder, calib)
        key = key_inputs.key()
        self.cache.ensure_writable()
        with self.cache.locked(key):
            hit = self.cache.lookup(key, backend_version=key_inputs.backend_version, device=key_inputs.device)
            if hit is not None:
                LOG.info("cache hit %s: loading %s without building", key[:16], hit.artifact)
                self.step("writing", 1.0, "cache hit")
                return self._deliver(hit, cache_hit=True)
            LOG.info("cache miss %s: building %s %s engine", key[:16], builder.name, self.precision)
            entry = self._build(source, builder, calib, key_inputs)
        return self._deliver(entry, cache_hit=False)

    def _effective_precision(self, source: SourceModel) -> str:
        """A QDQ model (from QAT, or quantized elsewhere) already carries its INT8 scales: build it as
        INT8 without a second calibration, whatever precision was asked, and say so in the manifest."""
        o = self.options
        if source.prequantized:
            if o.precision != "int8":
                LOG.info("%s already holds QuantizeLinear/DequantizeLinear: building it as int8, not %s",
                         source.path.name, o.precision)
            return "int8"
        if o.precision == "int8" and o.calibration is None:
            raise ConfigError("calib", "int8 needs calibration data", fix="pass --calib with images, a bag or .npy")
        return o.precision

    def _calibration(self, source: SourceModel) -> CalibrationSet | None:
        if self.options.calibration is None:
            return None
        self.step("calibrating", 0.05, f"reading {self.options.calibration.source}")
        return load_calibration_set(self.options.calibration, source.preprocess, source.inputs[0])

    def _key_inputs(self, source: SourceModel, builder: BackendBuilder, calib: CalibrationSet | None) -> CacheKeyInputs:
        o = self.options
        calibration: dict[str, Any] = {}
        if calib is not None:
            calibration = {"data_fingerprint": calib.fingerprint, "holdout_count": len(calib.holdout)}
            if self.precision == "int8" and o.calibration is not None and not source.prequantized:
                calibration |= {**o.calibration.method_facts(), "flavour": builder.qdq_flavour,
                                "int8_format": build_int8_format(builder.qdq_flavour).facts(),
                                "keep_layers": list(o.keep_layers), "auto_keep": o.auto_keep,
                                "output_tail": "fp32"}
        return CacheKeyInputs(
            onnx_sha256=source.sha256, precision=self.precision, backend=builder.name, backend_version=builder.version(),
            device=builder.device(), calibration=calibration,
            shape_profiles={t.name: list(t.shape) for t in source.inputs} | builder.shape_profiles(source.inputs),
            flags=builder.flags(self.precision) | {"max_drop": o.max_drop} | self._reference_flag(),
        )

    def _reference_flag(self) -> dict[str, str]:
        """The gate's reference model is part of the key: another reference may refuse the engine."""
        if not self.options.reference_onnx:
            return {}
        try:
            return {"gate_reference_sha256": file_sha256(self.options.reference_onnx)}
        except OSError as err:
            raise ConfigError("reference_onnx", f"cannot read {self.options.reference_onnx}: {err}",
                              fix="pass the FP32 ONNX model the gate should compare with") from err

    def _build(self, source: SourceModel, builder: BackendBuilder, calib: CalibrationSet | None,
               key_inputs: CacheKeyInputs) -> CacheEntry:
        key = key_inputs.key()
        started = time.monotonic()
        with self.cache.staging(key) as staged:
            try:
                return self._build_in(staged, source, builder, calib, key_inputs, started)
            except CompileCancelled:
                raise
            except (EdgeAiError, OSError) as err:
                # a full or read-only disk surfaces as odd model errors (a protobuf ONNX Runtime could
                # not serialise): name the OS error instead when the staging folder cannot take the files
                fault = diagnose_storage(staged, needed_bytes=source.path.stat().st_size)
                if fault is None or isinstance(err, StorageError):
                    raise
                raise fault from err

    def _build_in(self, staged: Path, source: SourceModel, builder: BackendBuilder, calib: CalibrationSet | None,
                  key_inputs: CacheKeyInputs, started: float) -> CacheEntry:
        key = key_inputs.key()
        model_path, qdq = self._quantize(source, builder, calib, staged / "work")
        self.step("building", 0.5, f"{builder.name} {self.precision}")
        built = builder.build(model_path, staged, self.precision, f"{source.model_id}.{builder.name}.{self.precision}")
        gate = self._gate(source, builder, calib, staged / built.name)
        self.step("writing", 0.95, str(self.cache.entry_dir(key)))
        shutil.rmtree(staged / "work", ignore_errors=True)
        manifest = self._manifest(source, builder, calib, key_inputs, staged / built.name, built.format,
                                  gate, qdq, time.monotonic() - started, built.details)
        save_manifest(manifest, manifest_path_for(staged / built.name))
        return self.cache.commit(key, staged, built.name)

    def _quantize(self, source: SourceModel, builder: BackendBuilder, calib: CalibrationSet | None,
                  work: Path) -> tuple[Path, QdqOptions | None]:
        o = self.options
        if self.precision != "int8" or calib is None or o.calibration is None or source.prequantized:
            return source.path, None
        from edge_ai_ros.compiler import sensitivity

        work.mkdir(parents=True, exist_ok=True)
        keep = (*sensitivity.resolve_named(source.path, o.keep_layers), *sensitivity.output_tail(source.path))
        base = QdqOptions(method=o.calibration.method, percentile=o.calibration.percentile,
                          flavour=builder.qdq_flavour, nodes_to_exclude=keep,
                          reduce_range=build_int8_format(builder.qdq_flavour).reduce_range)
        if o.auto_keep:
            self.step("quantizing", 0.2, f"finding the {o.auto_keep} most sensitive layers")
            trial = quantize_to_qdq(source.path, work / "trial.qdq.onnx", source.input_name, calib.calibration, base)
            found = sensitivity.worst_nodes(source.path, trial, source.input_name, calib.calibration[:4], o.auto_keep)
            keep = tuple(dict.fromkeys((*keep, *found)))
        options = replace(base, nodes_to_exclude=keep)
        self.step("quantizing", 0.3, f"{options.method} calibration on {len(calib.calibration)} frames")
        return quantize_to_qdq(source.path, work / "model.qdq.onnx", source.input_name, calib.calibration, options), options

    def _gate(self, source: SourceModel, builder: BackendBuilder, calib: CalibrationSet | None,
              artifact: Path) -> GateReport | None:
        if calib is None:
            LOG.warning("no calibration/held-out source given: the accuracy gate is skipped")
            return None
        from edge_ai_ros.compiler.onnxruntime_build import OnnxRuntimeBuilder

        self.step("validating", 0.8, f"{len(calib.holdout)} held-out frames against FP32")
        try:  # both engines are closed after the gate: GPU buffers and streams must not leak per build
            with closing(OnnxRuntimeBuilder().open(self._reference_path(source), "fp32")) as reference, \
                    closing(builder.open(artifact, self.precision)) as candidate:
                report = run_gate(
                    task=source.task, decoder=source.decoder, labels=source.labels, input_name=source.input_name,
                    holdout=calib.holdout, reference=reference.infer, candidate=candidate.infer,
                    max_drop=self.options.max_drop,
                )
        except EngineError as err:
            raise CompileError(f"the accuracy gate could not run the built engine: {err}",
                               fix="the artifact does not run here; try another backend or precision") from err
        LOG.info("%s", report.summary())
        if not report.passed:
            raise AccuracyGateError(report.summary() + "; no engine was kept",
                                    fix="keep sensitive layers (--keep-layers/--auto-keep), try another "
                                        "--calib-method, or raise --max-drop")
        return report

    def _reference_path(self, source: SourceModel) -> Path:
        return Path(self.options.reference_onnx) if self.options.reference_onnx else source.path

    def _manifest(self, source: SourceModel, builder: BackendBuilder, calib: CalibrationSet | None,
                  key_inputs: CacheKeyInputs, artifact: Path, fmt: str, gate: GateReport | None,
                  qdq: QdqOptions | None, seconds: float, details: Any) -> ModelManifest:
        calibration = None if calib is None else calib.facts() | (qdq.facts() if qdq else {})
        # Each engine gets its own id (outputs carry it, so a subscriber sees exactly where a swap
        # from the FP32 model to its INT8 build happened); source_onnx_sha256 ties it to its source.
        model_id = f"{source.model_id}-{builder.name}-{self.precision}-{key_inputs.key()[:8]}"
        return ModelManifest(
            model_id=model_id, task=source.task, labels=source.labels, preprocess=source.preprocess,
            decoder=source.decoder, inputs=source.inputs, outputs=source.outputs,
            artifact=ArtifactSpec(path=artifact.name, format=fmt, sha256=file_sha256(artifact),
                                  size_bytes=artifact.stat().st_size, files=describe_files(artifact, fmt)),
            source_onnx_sha256=source.sha256, precision=self.precision, backend=builder.name,
            backend_version=key_inputs.backend_version, device=key_inputs.device, calibration=calibration,
            accuracy=None if gate is None else gate.to_dict(),
            host=engine_host_record(self.precision, key_inputs.device, self._int8_format(source, builder, artifact)),
            build={"cache_key": key_inputs.key(), "key_inputs": json_safe(key_inputs), "flags": dict(key_inputs.flags),
                   "build_time_s": round(seconds, 3), "built_at": datetime.now(UTC).isoformat(),
                   "source_path": str(source.path), "metadata_from": source.metadata_from, "details": dict(details)},
        )

    def _int8_format(self, source: SourceModel, builder: BackendBuilder, artifact: Path) -> Int8Format | None:
        if self.precision != "int8":
            return None
        if source.prequantized:  # QAT: the graph's own weights say which format it was trained in
            return qdq_weight_format(source.path)
        return build_int8_format(builder.qdq_flavour)

    def _deliver(self, entry: CacheEntry, *, cache_hit: bool) -> BuildResult:
        """Copy the entry to --out (artifact files first, manifest last), or hand back the cache paths."""
        engine, manifest_file = entry.artifact, entry.manifest_path
        if self.options.out_dir:
            out = Path(self.options.out_dir)
            companions = sorted(p for p in entry.artifact.parent.iterdir() if p != entry.manifest_path)
            for path in companions:
                try:
                    with atomic_output_path(out / path.name) as tmp:
                        shutil.copyfile(path, tmp)
                except OSError as err:
                    raise storage_error(err, out / path.name) from err
            engine, manifest_file = out / entry.artifact.name, manifest_path_for(out / entry.artifact.name)
            save_manifest(entry.manifest, manifest_file)
        return BuildResult(engine_path=engine, manifest_path=manifest_file, manifest=entry.manifest,
                           cache_hit=cache_hit, cache_key=entry.key)


def json_safe(inputs: CacheKeyInputs) -> dict[str, Any]:
    import json

    data: dict[str, Any] = json.loads(inputs.canonical_json())
    return data


def deliver(run: _Run, entry: CacheEntry, *, cache_hit: bool) -> BuildResult:
    """Hand ``entry`` over as ``run`` would (copied to its --out folder if it has one)."""
    return run._deliver(entry, cache_hit=cache_hit)
