"""One unit of replay work: one bag, one engine, one report.

``run_replay(job, play)`` checks the bag (and the golden against it) before any node starts,
plays every readable frame through the inference node, keeps what it produced even when
the bag ends early, writes detections (JSON in golden format, and a rosbag2 bag with the
input log times), compares with golden, measures the engine-only rate, and writes the
report. It is a plain function of a frozen job, so ``--jobs`` runs it in worker
processes and a fleet runs it as one remote task per bag.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edge_ai_ros.atomic_io import atomic_write_text
from edge_ai_ros.bags.results_bag import frames_from_outputs, write_results_bag
from edge_ai_ros.bags.source import BagSource, TopicScan, decode_frame
from edge_ai_ros.errors import ConfigError, EdgeAiError, InvalidInputError
from edge_ai_ros.manifest import ModelManifest, load_manifest
from edge_ai_ros.replay.compare import ComparisonSummary, Tolerances, compare_runs
from edge_ai_ros.replay.golden import (
    GoldenFile,
    ModelIdentity,
    check_same_bag,
    check_same_model,
    load_golden,
    make_golden,
    save_golden,
)
from edge_ai_ros.replay.player import FramePlayer, ReplayerConfig
from edge_ai_ros.replay.report import ReportInput, latency_percentiles, stage_percentiles, write_report


@dataclass(frozen=True, kw_only=True)
class ReplayJob:
    bag: str
    topic: str
    manifest: str
    out_dir: str
    golden: str = ""  # compare with this golden file ("" = no comparison)
    record_golden: bool = False  # write the run as the golden (to ``golden``, or out_dir/golden.json)
    backend: str = "auto"
    tolerances: Tolerances = field(default_factory=Tolerances)
    allow_other_model: bool = False
    domain_id: int | None = None
    namespace: str = "replay"
    max_in_flight: int = 1
    frame_timeout_s: float = 10.0
    measure_engine: bool = True
    worst_frames: int = 6
    results_topic: str = "/detections"
    stage_timings: bool = True  # per-frame stage times from the node (report table, summary.json)

    def __post_init__(self) -> None:
        if self.record_golden and self.golden and Path(self.golden).exists() and not Path(self.golden).is_file():
            raise ConfigError("golden", f"{self.golden} is not a file", fix="pass a file path for the golden JSON")
        if self.worst_frames < 0:
            raise ConfigError("worst_frames", f"must be >= 0, got {self.worst_frames}")


@dataclass(frozen=True, kw_only=True)
class ReplayResult:
    """What one replay did, JSON-serialisable (summary.json; the --jobs summary is a list of these)."""

    bag: str
    topic: str
    model_id: str
    verdict: str  # pass | fail | recorded | done (no golden) | error
    reason: str = ""
    out_dir: str = ""
    report: str = ""
    report_html: str = ""
    detections_json: str = ""
    results_bag: str = ""
    golden_written: str = ""
    frames_expected: int = 0
    frames_read: int = 0
    frames_published: int = 0
    frames_answered: int = 0
    unanswered: tuple[int, ...] = ()
    read_error: str = ""
    precision: float | None = None
    recall: float | None = None
    map50: float | None = None
    frames_failed: int | None = None
    failed_frames: tuple[int, ...] = ()  # indices of the frames that differ from golden beyond the tolerances
    latency_ms: dict[str, float] = field(default_factory=dict)
    replay_fps: float = 0.0
    engine_fps: float = 0.0
    pipeline_fps: float = 0.0
    decode_pipeline_fps: float = 0.0
    stages_ms: dict[str, dict[str, float]] = field(default_factory=dict)  # stage -> p50/p90/p99/max

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def identity_of(manifest: ModelManifest, backend: str) -> ModelIdentity:
    return ModelIdentity(model_id=manifest.model_id, source_onnx_sha256=manifest.source_onnx_sha256,
                         labels=manifest.labels, precision=manifest.precision,
                         backend=manifest.backend if backend == "auto" else backend)


def checked_golden(job: ReplayJob, scan: TopicScan, model: ModelIdentity) -> GoldenFile | None:
    """The golden to compare with, refused if it belongs to another bag or model."""
    if not job.golden or job.record_golden:
        return None
    golden = load_golden(job.golden)
    if not job.allow_other_model:
        check_same_model(golden, model, job.golden)
    if not scan.truncated:
        check_same_bag(golden, scan.bag, job.golden)
        return golden
    # A truncated bag cannot match the whole bag's fingerprint; its frames must be golden's first ones.
    prefix = tuple(f.stamp_ns for f in golden.frames[: len(scan.stamps)])
    if golden.bag.topic != scan.bag.topic or prefix != scan.stamps:
        check_same_bag(golden, scan.bag, job.golden)
    return dataclasses.replace(golden, frames=golden.frames[: len(scan.stamps)])


def _images(source: BagSource, limit: int) -> Iterator[np.ndarray | None]:
    for frame in source.frames(limit):
        try:
            yield decode_frame(source.msgtype, frame.data)
        except InvalidInputError:
            yield None


def _images_at(source: BagSource, indices: set[int], limit: int) -> dict[int, np.ndarray]:
    found: dict[int, np.ndarray] = {}
    for frame in source.frames(limit):
        if frame.index in indices:
            try:
                found[frame.index] = decode_frame(source.msgtype, frame.data)
            except InvalidInputError:
                continue
    return found


def _write_bag(path: Path, topic: str, messages: Sequence[tuple[int, bytes]]) -> None:
    """Write beside the target, then swap, so a failed write never leaves half a bag in place."""
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent)) / "bag"
    try:
        write_results_bag(tmp, topic, messages)
        if path.exists():
            shutil.rmtree(path)
        tmp.rename(path)
    finally:
        shutil.rmtree(tmp.parent, ignore_errors=True)


def _notes(scan: TopicScan, unanswered: Sequence[int], read_error: str) -> list[str]:
    notes = []
    if scan.truncated or read_error:
        why = scan.read_error or read_error or "fewer frames than its metadata lists"
        notes.append(f"bag truncated: read {scan.readable_frames} of {scan.expected_frames} frames ({why}); "
                     "everything read was replayed and kept")
    if unanswered:
        shown = ", ".join(str(i) for i in unanswered[:10]) + (" …" if len(unanswered) > 10 else "")
        notes.append(f"{len(unanswered)} frame(s) got no output (rejected by the node or timed out): {shown}")
    return notes


def _verdict(job: ReplayJob, cmp: ComparisonSummary | None, notes: Sequence[str], scan: TopicScan) -> tuple[str, str]:
    if job.record_golden:
        return ("fail", "not recorded as golden: " + "; ".join(notes)) if notes else ("recorded", "")
    if cmp is None:
        return ("fail", "; ".join(notes)) if scan.truncated else ("done", "")
    if scan.truncated:
        return "fail", notes[0]
    if cmp.passed:
        return "pass", ""
    return "fail", f"{cmp.frames_failed} of {len(cmp.frames)} frames differ from golden beyond the tolerances"


def run_replay(job: ReplayJob, play: FramePlayer) -> ReplayResult:
    """Replay one bag through the node ``play`` runs; see the module docstring for what is written where.

    ``play`` is ``ros.drivers.bag_replayer.replay_frames`` in service (``ros/drivers/replay_process.py``
    wires it in): this module stays ROS-free.
    """
    manifest = load_manifest(job.manifest)
    model = identity_of(manifest, job.backend)
    source = BagSource(job.bag, job.topic)
    scan = source.scan()
    golden = checked_golden(job, scan, model)
    out = Path(job.out_dir)
    config = ReplayerConfig(namespace=job.namespace, domain_id=job.domain_id, max_in_flight=job.max_in_flight,
                            frame_timeout_s=job.frame_timeout_s, stage_timings=job.stage_timings)
    outcome = play(source.frames(scan.readable_frames), msgtype=source.msgtype, manifest=job.manifest,
                            backend=job.backend, config=config)
    outputs = [(o.index, o.stamp_ns, o.data) for o in outcome.outputs]
    candidate = make_golden(model=model, bag=scan.bag, frames=frames_from_outputs(outputs),
                            metadata={"manifest": str(Path(job.manifest).resolve()), "backend": job.backend})
    detections_json = save_golden(candidate, out / "detections.json")
    results_bag = out / "detections_bag"
    _write_bag(results_bag, job.results_topic, [(o.log_time_ns, o.data) for o in outcome.outputs])
    notes = _notes(scan, outcome.unanswered, outcome.read_error)
    # Compared as written (golden precision: boxes 3, scores 6 decimals), so rounding is no difference.
    written = load_golden(detections_json)
    comparison = compare_runs(golden, written, job.tolerances) if golden is not None else None
    verdict, reason = _verdict(job, comparison, notes, scan)
    golden_written = ""
    if verdict == "recorded":
        golden_written = str(save_golden(candidate, job.golden or out / "golden.json"))
    rates: dict[str, float] = {"replay through the node": outcome.frames_published / outcome.wall_s}
    if job.measure_engine:
        from edge_ai_ros.replay.throughput import measure_engine_rate

        rate = measure_engine_rate(_images(source, scan.readable_frames), manifest=job.manifest, backend=job.backend)
        rates.update({"engine only": rate.engine_fps, "pipeline without ROS": rate.pipeline_fps})
        if rate.decode_fps > 0 and rate.pipeline_fps > 0:
            rates["decode + pipeline without ROS"] = 1.0 / (1.0 / rate.decode_fps + 1.0 / rate.pipeline_fps)
    worst = comparison.worst(job.worst_frames) if comparison is not None else ()
    images = _images_at(source, {f.index for f in worst}, scan.readable_frames)
    facts = [("bag", f"{scan.bag.name} ({scan.readable_frames} of {scan.expected_frames} frames read)"),
             ("topic", f"{scan.bag.topic} [{scan.msgtype}]"),
             ("candidate model", f"{model.model_id} ({model.precision}, backend {job.backend})"),
             ("golden model", golden.model.model_id if golden is not None else "none"),
             ("frames answered", f"{len(outcome.outputs)} of {outcome.frames_published} published")]
    latencies = [o.latency_s for o in outcome.outputs]
    stages = stage_percentiles([o.stages_ms for o in outcome.outputs if o.stages_ms])
    report = write_report(ReportInput(title=f"Replay of {scan.bag.name}: {verdict.upper()}", facts=facts,
                                      latencies_s=latencies, throughput_fps=rates, comparison=comparison,
                                      notes=notes, worst_count=job.worst_frames, stages_ms=stages), images.get, out)
    result = ReplayResult(
        bag=job.bag, topic=scan.bag.topic, model_id=model.model_id, verdict=verdict, reason=reason,
        out_dir=str(out), report=str(report.markdown), report_html=str(report.html),
        detections_json=str(detections_json), results_bag=str(results_bag), golden_written=golden_written,
        frames_expected=scan.expected_frames, frames_read=scan.readable_frames,
        frames_published=outcome.frames_published, frames_answered=len(outcome.outputs),
        unanswered=outcome.unanswered, read_error=scan.read_error or outcome.read_error,
        precision=comparison.precision if comparison else None, recall=comparison.recall if comparison else None,
        map50=comparison.map50 if comparison else None,
        frames_failed=comparison.frames_failed if comparison else None,
        failed_frames=tuple(f.index for f in comparison.frames if not f.passed) if comparison else (),
        latency_ms=latency_percentiles(latencies), replay_fps=rates["replay through the node"],
        engine_fps=rates.get("engine only", 0.0), pipeline_fps=rates.get("pipeline without ROS", 0.0),
        decode_pipeline_fps=rates.get("decode + pipeline without ROS", 0.0), stages_ms=stages,
    )
    atomic_write_text(out / "summary.json", json.dumps(result.to_dict(), indent=1) + "\n")
    return result


def error_result(job: ReplayJob, err: EdgeAiError) -> ReplayResult:
    """The result of a job that could not run (bad bag, golden of another model, ...)."""
    return ReplayResult(bag=job.bag, topic=job.topic, model_id="", verdict="error", reason=str(err),
                        out_dir=job.out_dir)
