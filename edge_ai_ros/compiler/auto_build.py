"""``compile --backend auto`` on a CPU: build every CPU backend, keep the fastest measured here.

Which runtime and artifact serve a model fastest depends on the CPU (ONNX Runtime's FP32 won
on one AVX-512 host, OpenVINO's INT8 IR on another; INT8 is hardly faster than FP32 in ONNX
Runtime where the CPU has no VNNI). So ``auto`` builds each CPU backend that supports the
precision (each through the normal cached path, each passing the accuracy gate against FP32
on this host), then times every (artifact, serving backend) pair, interleaved, on a seeded
input, within a budget. The fastest pair's manifest gets the measurement (``build.auto_choice``
for the loader, ``build.auto_compile`` with every timing); the choice itself is cached next to
the engines, so the next ``auto`` compile on this CPU returns the entry without building the
others or measuring again. A candidate that cannot be built or fails the gate is listed with why.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edge_ai_ros.atomic_io import atomic_write_text, file_sha256
from edge_ai_ros.compiler.backend_builders import AUTO_ORDER, get_builder
from edge_ai_ros.compiler.cache import CacheEntry
from edge_ai_ros.engines import auto_select
from edge_ai_ros.engines.options import EngineOptions
from edge_ai_ros.engines.registry import BACKENDS, available_backends, create_engine
from edge_ai_ros.errors import BackendUnavailableError, CompileError, ConfigError, EdgeAiError
from edge_ai_ros.host import cpu_device_string, runtime_versions
from edge_ai_ros.manifest import save_manifest

if TYPE_CHECKING:
    from edge_ai_ros.compiler.build_run import BuildOptions, BuildResult, _Run

LOG = logging.getLogger(__name__)
BUDGET_S = 3.0  # timing budget of one auto compile (loading and building come on top)
RunFactory = Callable[["BuildOptions"], "_Run"]


def cpu_builders(options: BuildOptions) -> list[str]:
    """CPU builders available here that build ``options.precision``, in AUTO_ORDER."""
    names = []
    for name in AUTO_ORDER:
        if name == "tensorrt":
            continue
        try:
            get_builder(name).check_precision(options.precision)
        except (BackendUnavailableError, ConfigError) as err:
            LOG.info("auto: %s is not a candidate: %s", name, err)
            continue
        names.append(name)
    return names


def choice_path(options: BuildOptions, builders: list[str]) -> Path:
    """Where this request's auto choice is kept: keyed on everything but the backend, plus this CPU."""
    facts = {"onnx": file_sha256(options.onnx_path), "options": repr(replace(options, backend="auto", out_dir="")),
             "builders": builders, "device": cpu_device_string(), "runtimes": runtime_versions(builders)}
    key = hashlib.sha256(json.dumps(facts, sort_keys=True).encode()).hexdigest()
    return Path(options.cache_dir) / "auto" / f"{key}.json"


def build_fastest(options: BuildOptions, make_run: RunFactory) -> BuildResult:
    from edge_ai_ros.compiler.build_run import deliver

    builders = cpu_builders(options)
    if not builders:
        raise ConfigError("backend", f"no CPU backend here builds {options.precision}",
                          fix="install onnxruntime or openvino, or choose another --precision")
    remembered = _remembered(options, builders, make_run)
    if remembered is not None:
        return remembered
    results, rejected = _build_all(options, builders, make_run)
    record = _measure(results, rejected, options.precision)
    chosen = results[record["builder"]]
    manifest = chosen.manifest.with_updates(build={**chosen.manifest.build, "auto_choice": record.pop("serving"),
                                                   "auto_compile": record})
    save_manifest(manifest, chosen.manifest_path)  # the cache entry: its artifact and key are unchanged
    atomic_write_text(choice_path(options, builders), json.dumps({"builder": record["builder"]}))
    LOG.info("auto: %s", record["reason"])
    entry = CacheEntry(key=chosen.cache_key, artifact=chosen.engine_path, manifest_path=chosen.manifest_path,
                       manifest=manifest)
    return deliver(make_run(replace(options, backend=record["builder"])), entry, cache_hit=False)


def _remembered(options: BuildOptions, builders: list[str], make_run: RunFactory) -> BuildResult | None:
    path = choice_path(options, builders)
    try:
        builder = str(json.loads(path.read_text(encoding="utf-8"))["builder"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if builder not in builders:
        return None
    result = make_run(replace(options, backend=builder)).execute()
    if result.cache_hit and "auto_compile" in result.manifest.build:
        LOG.info("auto: %s, chosen by measurement earlier on this CPU", builder)
        return result
    return None  # the entry was rebuilt: measure again


def _build_all(options: BuildOptions, builders: list[str],
               make_run: RunFactory) -> tuple[dict[str, BuildResult], dict[str, str]]:
    from edge_ai_ros.compiler.build_run import CompileCancelled

    results: dict[str, BuildResult] = {}
    rejected: dict[str, str] = {}
    for name in builders:
        try:
            results[name] = make_run(replace(options, backend=name, out_dir="")).execute()
        except (CompileCancelled, ConfigError):  # a stop, or a request no candidate can build
            raise
        except EdgeAiError as err:  # a failed accuracy gate is one too
            rejected[name] = str(err)
            LOG.warning("auto: %s candidate dropped: %s", name, err)
    if not results:
        raise CompileError(f"no CPU backend built {options.precision}: {rejected}",
                           fix="see each backend's reason; try another --precision or calibration")
    return results, rejected


def _measure(results: dict[str, BuildResult], rejected: dict[str, str], precision: str) -> dict[str, Any]:
    """Time every (builder's artifact, serving backend) pair; the record of the fastest."""
    pairs = {f"{name}/{serve}": (name, serve) for name, result in results.items()
             for serve in available_backends() if result.manifest.artifact.format in BACKENDS[serve].formats}

    def load(label: str) -> Any:
        name, serve = pairs[label]
        return create_engine(serve, results[name].engine_path, EngineOptions(), precision=precision, reason="auto")

    measured = auto_select.measure(list(pairs), load, reference=next(iter(pairs)), precision=precision,
                                   budget_s=BUDGET_S, max_runs=200, check_outputs=False)
    builder, serve = pairs[measured.backend]
    same = [label for label in measured.order if pairs[label][0] == builder]
    serving = auto_select.MeasuredChoice(
        backend=serve, order=tuple(pairs[label][1] for label in same),
        median_ms={pairs[label][1]: measured.median_ms[label] for label in same}, reference=builder,
        device=measured.device, runs=measured.runs, measured_at=measured.measured_at)
    return {"builder": builder, "median_ms": dict(measured.median_ms), "rejected": {**rejected, **measured.rejected},
            "runs": measured.runs, "measured_at": measured.measured_at, "device": measured.device,
            "reason": f"{builder} artifact served by {serve} is the fastest measured here "
                      f"({', '.join(f'{k} {v:.2f} ms' for k, v in measured.median_ms.items())})",
            "serving": serving.to_dict()}
