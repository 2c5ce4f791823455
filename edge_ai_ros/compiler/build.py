"""Build orchestration: ONNX in, cached engine + manifest out, with progress and cancel.

``build_engine`` is the entry point: one backend goes through ``build_run``; ``backend="auto"``
on CPUs goes through ``auto_build``, which measures every CPU backend it builds.
"""

from __future__ import annotations

from collections.abc import Callable

from edge_ai_ros.compiler.auto_build import build_fastest
from edge_ai_ros.compiler.backend_builders import choose_builder
from edge_ai_ros.compiler.build_run import (
    PRECISIONS,
    BuildOptions,
    BuildResult,
    CompileCancelled,
    Progress,
    _no_progress,
    _Run,
)

__all__ = ["PRECISIONS", "BuildOptions", "BuildResult", "CompileCancelled", "Progress", "build_engine"]


def build_engine(options: BuildOptions, progress: Progress | None = None,
                 cancelled: Callable[[], bool] | None = None) -> BuildResult:
    """Build (or fetch from the cache) the engine ``options`` describe.

    ``backend="auto"`` builds TensorRT where it is usable; on CPUs it builds every CPU backend
    that supports the precision and keeps the fastest measured here (``auto_build``).
    """
    run = _Run(options, progress or _no_progress, cancelled or (lambda: False))
    if options.backend == "auto" and choose_builder("auto", options.precision, options.tensorrt).name != "tensorrt":
        return build_fastest(options, lambda o: _Run(o, run._progress, run._cancelled))
    return run.execute()
