"""``auto`` by measurement: time the backends that can run an artifact on this host, keep the fastest
whose outputs agree with the reference backend, and remember the answer.

Which CPU runtime is faster depends on the host (ONNX Runtime won FP32 on one AVX-512 host,
OpenVINO won INT8 on it; the order differs on AVX2-only CPUs and on Arm), so a fixed table
is only the order to try candidates in when measuring is off (``EngineOptions.auto_select``).

A measurement loads each candidate, checks its outputs on a seeded probe input against the
reference (the backend the artifact was built and gated with, else the first in the table),
then times the candidates interleaved, round by round, until ``auto_budget_s`` is spent. The
result is cached as JSON keyed by the artifact's sha256, this host's CPU features, the runtime
versions and the thread count, so a later load (the node's next configure, a swap back) reuses
it without measuring. A compiled engine's manifest may carry the measurement too
(``build.auto_choice``), taken on the build host: it is used where the device matches.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from edge_ai_ros.atomic_io import atomic_write_text
from edge_ai_ros.engines.base import Engine, TensorSpec
from edge_ai_ros.errors import EdgeAiError
from edge_ai_ros.host import cpu_device_string, runtime_versions

_LOG = logging.getLogger(__name__)
CHOICE_SCHEMA = 1
#: Relative L2 error of a candidate's outputs against the reference backend's, on the probe input.
MAX_RELATIVE_ERROR = {"fp32": 1e-3, "int8": 0.05, "bf16": 0.05, "fp16": 0.05}
CACHE_ENV = "EDGE_AI_ROS_CACHE_DIR"
Loader = Callable[[str], Engine]  # backend name -> loaded engine (raises EngineError)


@dataclass(frozen=True, kw_only=True)
class MeasuredChoice:
    """The outcome of one measurement: what was chosen, how fast each candidate was, and why."""

    backend: str
    order: tuple[str, ...]  # fastest first among those that passed
    median_ms: Mapping[str, float]
    rejected: Mapping[str, str] = field(default_factory=dict)  # candidate -> why it was not eligible
    reference: str = ""
    device: str = ""
    runs: int = 0
    measured_at: str = ""
    schema: int = CHOICE_SCHEMA

    def reason(self) -> str:
        timings = ", ".join(f"{b} {self.median_ms[b]:.2f} ms" for b in self.order)
        rejected = "".join(f"; {b} rejected: {why}" for b, why in self.rejected.items())
        return f"{self.backend} is the fastest measured on this host (median of {self.runs} runs: {timings}){rejected}"

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["order"] = list(self.order)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> MeasuredChoice:
        return cls(backend=str(data["backend"]), order=tuple(str(b) for b in data["order"]),
                   median_ms={str(k): float(v) for k, v in dict(data["median_ms"]).items()},
                   rejected={str(k): str(v) for k, v in dict(data.get("rejected", {})).items()},
                   reference=str(data.get("reference", "")), device=str(data.get("device", "")),
                   runs=int(data.get("runs", 0)), measured_at=str(data.get("measured_at", "")),
                   schema=int(data.get("schema", CHOICE_SCHEMA)))


def default_cache_dir() -> Path:
    explicit = os.environ.get(CACHE_ENV)
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "edge_ai_ros"


def choice_key(artifact_sha256: str, candidates: Sequence[str], precision: str, threads: int) -> str:
    facts = {"schema": CHOICE_SCHEMA, "artifact": artifact_sha256, "candidates": list(candidates),
             "precision": precision, "threads": threads, "device": cpu_device_string(),
             "runtimes": runtime_versions(candidates)}
    return hashlib.sha256(json.dumps(facts, sort_keys=True).encode()).hexdigest()


def cached_choice(cache_dir: Path, key: str, candidates: Sequence[str]) -> MeasuredChoice | None:
    path = cache_dir / "backend_choice" / f"{key}.json"
    try:
        choice = MeasuredChoice.from_dict(json.loads(path.read_text(encoding="utf-8")))
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as err:
        _LOG.warning("ignoring unreadable backend choice %s: %s", path, err)
        return None
    return choice if choice.backend in candidates and choice.schema == CHOICE_SCHEMA else None


def store_choice(cache_dir: Path, key: str, choice: MeasuredChoice) -> None:
    try:
        atomic_write_text(cache_dir / "backend_choice" / f"{key}.json", json.dumps(choice.to_dict(), indent=2))
    except (EdgeAiError, OSError) as err:  # a read-only home must not stop serving
        _LOG.warning("could not cache the backend choice in %s: %s", cache_dir, err)


def probe_feeds(inputs: Sequence[TensorSpec], seed: int = 0) -> dict[str, np.ndarray]:
    """A seeded input in [0, 1] for every input (dynamic dimensions become 1)."""
    rng = np.random.default_rng(seed)
    feeds: dict[str, np.ndarray] = {}
    for spec in inputs:
        shape = tuple(d if isinstance(d, int) and d > 0 else 1 for d in spec.shape)
        feeds[spec.name] = rng.random(shape).astype(spec.dtype)
    return feeds


def relative_error(candidate: Mapping[str, np.ndarray], reference: Mapping[str, np.ndarray]) -> float:
    worst = 0.0
    for name, ref in reference.items():
        if name not in candidate or np.shape(candidate[name]) != np.shape(ref):
            return float("inf")
        ref64 = np.asarray(ref, np.float64)
        diff = np.linalg.norm(np.asarray(candidate[name], np.float64) - ref64)
        worst = max(worst, float(diff / max(float(np.linalg.norm(ref64)), 1e-12)))
    return worst


def measure(candidates: Sequence[str], load: Loader, *, reference: str, precision: str,
            budget_s: float, max_runs: int = 30, check_outputs: bool = True) -> MeasuredChoice:
    """Load every candidate, gate it against ``reference``'s outputs, time the rest interleaved.

    ``check_outputs=False`` skips the output comparison (the compiler's candidates each passed
    the accuracy gate against FP32 already, and different INT8 artifacts legitimately differ).
    """
    engines: dict[str, Engine] = {}
    rejected: dict[str, str] = {}
    try:
        for name in candidates:
            try:
                engines[name] = load(name)
            except EdgeAiError as err:
                rejected[name] = f"did not load ({err})"
        limit = MAX_RELATIVE_ERROR.get(precision, 0.05) if check_outputs else float("inf")
        times = _time_gated(engines, rejected, reference, limit, budget_s, max_runs)
    finally:
        for engine in engines.values():
            engine.close()
    medians = {name: round(float(np.median(t)) * 1e3, 3) for name, t in times.items() if t}
    order = tuple(sorted(medians, key=lambda n: medians[n]))
    if not order:
        raise EdgeAiError(f"no backend passed measurement: {rejected}", fix="use an explicit backend")
    return MeasuredChoice(backend=order[0], order=order, median_ms=medians, rejected=rejected, reference=reference,
                          device=cpu_device_string(), runs=min(len(t) for t in times.values() if t),
                          measured_at=datetime.now(UTC).isoformat(timespec="seconds"))


def _time_gated(engines: dict[str, Engine], rejected: dict[str, str], reference: str, limit: float,
                budget_s: float, max_runs: int) -> dict[str, list[float]]:
    if not engines:
        return {}
    first = engines.get(reference) or next(iter(engines.values()))
    feeds = probe_feeds(first.info.inputs)
    expected = first.infer(feeds)  # also the reference's warm-up run
    eligible: list[str] = []
    for name, engine in engines.items():
        try:
            error = relative_error(engine.infer(feeds), expected)  # doubles as warm-up
        except EdgeAiError as err:
            rejected[name] = f"failed to run ({err})"
            continue
        if error > limit:
            rejected[name] = f"outputs differ from {reference} by {error:.3g} (allowed {limit})"
        else:
            eligible.append(name)
    for name in eligible:  # a second untimed run: some runtimes finish compiling on the first ones
        engines[name].infer(feeds)
    times: dict[str, list[float]] = {name: [] for name in eligible}
    deadline = time.monotonic() + budget_s
    while eligible and len(times[eligible[0]]) < max_runs and (time.monotonic() < deadline or
                                                               len(times[eligible[0]]) < 3):
        for name in eligible:  # interleaved: a load spike on the shared CPU hits every candidate alike
            start = time.perf_counter()
            engines[name].infer(feeds)
            times[name].append(time.perf_counter() - start)
    return times


def recorded_choice(build: Mapping[str, Any], candidates: Sequence[str]) -> MeasuredChoice | None:
    """A manifest's compile-time measurement (``build.auto_choice``), if taken on a CPU like this one."""
    data = build.get("auto_choice")
    if not isinstance(data, Mapping):
        return None
    try:
        choice = MeasuredChoice.from_dict(data)
    except (KeyError, TypeError, ValueError) as err:
        _LOG.warning("ignoring the manifest's unreadable build.auto_choice: %s", err)
        return None
    usable = choice.device == cpu_device_string() and choice.backend in candidates
    return choice if usable and choice.schema == CHOICE_SCHEMA else None

