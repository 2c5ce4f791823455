"""Which backends are installed, which one to use for an artifact, and loading it.

Each backend is a module ``edge_ai_ros.engines.<name>_backend`` with a function
``create_engine(path, options, *, model_precision, details) -> Engine``; the table below
names it, the runtime package it needs and the artifact formats it reads. Whether a
backend is available is answered with importlib.util.find_spec, so asking imports no
runtime. TensorRT plugs in by its module existing (the compiler writes it).
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from edge_ai_ros.atomic_io import file_sha256
from edge_ai_ros.engines import auto_select
from edge_ai_ros.engines.base import Engine
from edge_ai_ros.engines.options import EngineOptions
from edge_ai_ros.errors import BackendUnavailableError, ConfigError, EdgeAiError, EngineError, ManifestError
from edge_ai_ros.host import check_host_record
from edge_ai_ros.manifest import ModelManifest, load_manifest, manifest_path_for

_LOG = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class BackendEntry:
    name: str
    runtime: str  # the package find_spec looks for
    module: str  # the edge_ai_ros module with create_engine
    formats: tuple[str, ...]  # artifact formats it reads


BACKENDS: dict[str, BackendEntry] = {
    e.name: e for e in (
        BackendEntry(name="tensorrt", runtime="tensorrt", module="edge_ai_ros.engines.tensorrt_backend",
                     formats=("tensorrt_plan",)),
        BackendEntry(name="openvino", runtime="openvino", module="edge_ai_ros.engines.openvino_backend",
                     formats=("onnx", "openvino_ir")),
        BackendEntry(name="onnxruntime", runtime="onnxruntime",
                     module="edge_ai_ros.engines.onnxruntime_backend", formats=("onnx",)),
    )
}
#: The order ``auto`` tries CPU backends in when it does not measure (EngineOptions.auto_select
#: "table"), and the fallback order after a measured choice. Which one is fastest depends on the
#: host; with measuring on (the default) the choice is timed here (engines/auto_select.py).
CPU_PREFERENCE: dict[str, tuple[str, ...]] = {
    "fp32": ("onnxruntime", "openvino"),
    "bf16": ("openvino", "onnxruntime"),
    "fp16": ("openvino", "onnxruntime"),
    "int8": ("openvino", "onnxruntime"),
}
_SUFFIX_FORMATS = {".onnx": "onnx", ".xml": "openvino_ir", ".plan": "tensorrt_plan", ".engine": "tensorrt_plan"}


@dataclass(frozen=True, kw_only=True)
class BackendChoice:
    """The backend picked for an artifact, why, and what to try if it fails to load."""

    backend: str
    reason: str
    fallbacks: tuple[str, ...] = ()


def _installed(name: str) -> bool:
    """True if ``name`` is a real module (a folder of type stubs is a namespace package, origin None)."""
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return False
    return spec is not None and spec.origin not in (None, "namespace")


def available_backends() -> list[str]:
    """Backends whose runtime and adapter module are both installed, in preference order."""
    return [n for n, e in BACKENDS.items() if _installed(e.runtime) and _installed(e.module) and _usable(n)]


def _usable(name: str) -> bool:
    """TensorRT also needs cuda-python and a GPU (probed once per process); the CPU backends need nothing more."""
    if name != "tensorrt":
        return True
    from edge_ai_ros.engines.tensorrt_runtime import tensorrt_usable

    return tensorrt_usable()[0]  # the probe logs its reason once


def choose_backend(manifest: ModelManifest, available: Sequence[str]) -> BackendChoice:
    """The fastest available backend that can run ``manifest``'s artifact, with the reason."""
    return choose_backend_for_format(manifest.artifact.format, available, built_for=manifest.backend,
                                     precision=manifest.precision)


def choose_backend_for_format(
    fmt: str, available: Sequence[str], *, built_for: str = "any", precision: str = "fp32",
) -> BackendChoice:
    readers = [n for n in BACKENDS if fmt in BACKENDS[n].formats]
    if not readers:
        raise EngineError(f"no backend loads {fmt!r} artifacts through the registry",
                          fix="torch_safetensors runs through engines.torch_backend.TorchEngine; "
                          "export ONNX for serving")
    preference = CPU_PREFERENCE.get(precision, CPU_PREFERENCE["fp32"])
    usable = list(dict.fromkeys(n for n in (*preference, *readers) if n in readers and n in available))
    if not usable:
        raise BackendUnavailableError(
            f"{fmt} artifacts need {' or '.join(readers)}, none is installed (available: {list(available)})",
            fix=f"install {readers[0]}, or compile the model for an available backend",
        )
    if built_for in usable:
        rest = tuple(n for n in usable if n != built_for)
        return BackendChoice(backend=built_for, reason=f"the artifact was built for {built_for}", fallbacks=rest)
    first = usable[0]
    why = f"the only reader of {fmt}" if len(readers) == 1 \
        else f"first in the fixed CPU order for {precision} (registry.CPU_PREFERENCE)"
    if built_for not in ("any", ""):
        why += f" ({built_for}, which the artifact was built for, is not available)"
    return BackendChoice(backend=first, reason=f"{first} is {why}", fallbacks=tuple(usable[1:]))


def artifact_format(path: Path) -> str:
    """Format of an artifact without a manifest, from its suffix."""
    try:
        return _SUFFIX_FORMATS[path.suffix.lower()]
    except KeyError:
        raise ConfigError("artifact_path", f"cannot tell the format of {path.name}",
                          fix=f"use one of {sorted(_SUFFIX_FORMATS)} or give its manifest") from None


def create_engine(name: str, path: Path, options: EngineOptions, *, precision: str, reason: str) -> Engine:
    """Load ``path`` with backend ``name`` (no choosing, no fallback)."""
    entry = BACKENDS.get(name)
    if entry is None:
        raise ConfigError("backend", f"{name!r} is unknown", fix=f"use auto or one of {sorted(BACKENDS)}")
    if name not in available_backends():
        raise BackendUnavailableError(f"backend {name} is not installed", fix=f"pip install {entry.runtime}")
    module = importlib.import_module(entry.module)
    engine: Engine = module.create_engine(path, options, model_precision=precision,
                                          details={"backend_choice": reason})
    return engine


def load_engine(
    artifact_path: str | Path,
    *,
    backend: str = "auto",
    options: EngineOptions | None = None,
    manifest: ModelManifest | None = None,
) -> Engine:
    """Load an artifact. ``auto`` picks the fastest available backend and falls back on failure.

    Without ``manifest``, ``<artifact>.manifest.json`` is read if present, else the suffix decides.
    The reason for the choice is logged and kept in ``engine.info.details["backend_choice"]``.
    """
    path = Path(artifact_path)
    options = options or EngineOptions()
    if manifest is None and manifest_path_for(path).is_file():
        manifest = load_manifest(manifest_path_for(path))
    if manifest is not None:  # built and checked for CPU features this host lacks: refused, named
        check_host_record(manifest.host, f"model {manifest.model_id} ({path.name})")
    fmt = manifest.artifact.format if manifest else artifact_format(path)
    precision = manifest.precision if manifest else "fp32"
    if backend != "auto":
        if backend in BACKENDS and fmt not in BACKENDS[backend].formats:
            raise ConfigError("backend", f"{backend} cannot read {fmt} artifacts",
                              fix="use backend auto, or compile the model for this backend")
        return create_engine(backend, path, options, precision=precision, reason="asked for explicitly")
    choice = choose_backend_for_format(fmt, available_backends(), built_for=manifest.backend if manifest else "any",
                                       precision=precision)
    if options.auto_select == "measure" and choice.fallbacks:
        choice = _measured_choice(choice, path, options, precision, manifest)
    return _load_first(choice, path, options, precision)


def _measured_choice(table: BackendChoice, path: Path, options: EngineOptions, precision: str,
                     manifest: ModelManifest | None) -> BackendChoice:
    """The table's candidates re-ordered by a measurement on this host, or the table if none could be had."""
    candidates = (table.backend, *table.fallbacks)
    found = _find_or_measure(table, path, options, precision, manifest)
    if found is None:
        return table
    measured, reason = found
    rest = tuple(dict.fromkeys(n for n in (*measured.order, *candidates) if n != measured.backend))
    return BackendChoice(backend=measured.backend, reason=reason, fallbacks=rest)


def _find_or_measure(table: BackendChoice, path: Path, options: EngineOptions, precision: str,
                     manifest: ModelManifest | None) -> tuple[auto_select.MeasuredChoice, str] | None:
    """Compile-time record (same CPU), else this host's cached measurement, else measure now and cache."""
    candidates = (table.backend, *table.fallbacks)
    recorded = auto_select.recorded_choice(manifest.build, candidates) if manifest else None
    if recorded is not None:
        return recorded, f"{recorded.reason()} [measured when compiled, {recorded.measured_at}]"
    sha = manifest.artifact.sha256 if manifest else file_sha256(path)
    key = auto_select.choice_key(sha, candidates, precision, options.resolved_threads())
    cache_dir = Path(options.choice_cache_dir) if options.choice_cache_dir else auto_select.default_cache_dir()
    cached = auto_select.cached_choice(cache_dir, key, candidates)
    if cached is not None:
        return cached, f"{cached.reason()} [measured {cached.measured_at}, cached]"
    reference = manifest.backend if manifest and manifest.backend in candidates else table.backend
    try:
        measured = auto_select.measure(
            candidates, lambda name: create_engine(name, path, options, precision=precision, reason="measuring"),
            reference=reference, precision=precision, budget_s=options.auto_budget_s)
    except EdgeAiError as err:
        _LOG.warning("measuring backends for %s failed, using the fixed order: %s", path.name, err)
        return None
    auto_select.store_choice(cache_dir, key, measured)
    return measured, measured.reason()


def _load_first(choice: BackendChoice, path: Path, options: EngineOptions, precision: str) -> Engine:
    failures: list[str] = []
    for name in (choice.backend, *choice.fallbacks):
        reason = choice.reason if not failures else f"{name} is the fallback: {'; '.join(failures)}"
        try:
            engine = create_engine(name, path, options, precision=precision, reason=reason)
        except (EngineError, ManifestError) as err:
            failures.append(f"{name} failed ({err})")
            _LOG.warning("backend %s could not load %s: %s", name, path, err)
            continue
        _LOG.info("backend %s chosen for %s: %s", name, path.name, reason)
        return engine
    raise EngineError(f"no backend could load {path}: {'; '.join(failures)}",
                      fix="check the artifact, or rebuild it with 'edge-ai-ros compile'")
