"""``--backend auto`` that survives a backend rejecting the model: the next one builds it.

``auto`` picks the fastest available backend for the precision (backend_builders.AUTO_ORDER).
When that backend cannot convert, compile or load this particular model (an operator it lacks,
an INT8 graph it cannot compile), the next available backend builds it instead; the log says so
and the delivered manifest records it under ``build.fallback`` (asked, used, and each skipped
backend with its reason). A failed accuracy gate is not a backend failure and is not retried.
An explicitly named backend never falls back.
"""

from __future__ import annotations

import logging
from dataclasses import replace

from edge_ai_ros.compiler.backend_builders import AUTO_ORDER, get_builder
from edge_ai_ros.compiler.build import BuildOptions, BuildResult, Progress, build_engine
from edge_ai_ros.errors import (
    AccuracyGateError,
    BackendUnavailableError,
    CompileError,
    ConfigError,
    EngineError,
    one_line,
)
from edge_ai_ros.manifest import save_manifest

LOG = logging.getLogger(__name__)


def auto_candidates(options: BuildOptions) -> list[str]:
    """The available backends that build ``options.precision``, in auto's order."""
    found = []
    for name in AUTO_ORDER:
        try:
            get_builder(name, options.tensorrt).check_precision(options.precision)
        except (BackendUnavailableError, ConfigError):
            continue
        found.append(name)
    return found


def build_with_fallback(options: BuildOptions, progress: Progress | None = None) -> BuildResult:
    """build_engine; with ``backend="auto"`` each available backend in turn until one builds."""
    candidates = auto_candidates(options) if options.backend == "auto" else []
    if len(candidates) < 2:
        return build_engine(options, progress)
    skipped: list[dict[str, str]] = []
    for name in candidates:
        try:
            result = build_engine(replace(options, backend=name), progress)
        except AccuracyGateError:
            raise
        except (CompileError, EngineError) as err:
            reason = one_line(err)
            LOG.warning("backend %s cannot build %s (%s); falling back to the next backend", name,
                        options.onnx_path, reason)
            skipped.append({"backend": name, "reason": reason})
            continue
        return _recorded(result, skipped)
    raise CompileError(f"no backend could build {options.onnx_path}: "
                       + "; ".join(f"{s['backend']}: {s['reason']}" for s in skipped),
                       fix="check the model's operators against the backends' support lists")


def _recorded(result: BuildResult, skipped: list[dict[str, str]]) -> BuildResult:
    if not skipped:
        return result
    facts = {"asked": "auto", "used": result.manifest.backend, "skipped": skipped}
    manifest = result.manifest.with_updates(build={**result.manifest.build, "fallback": facts})
    save_manifest(manifest, result.manifest_path)
    return replace(result, manifest=manifest)
