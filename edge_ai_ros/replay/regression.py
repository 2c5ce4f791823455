"""A directory of bags and goldens as regression cases: one case per bag and engine.

Described by a ``regression.yaml`` (paths relative to it)::

    topic: /camera/image_raw          # image topic of every bag (its /compressed sibling is found)
    golden_dir: golden                # <bag name>.golden.json per bag
    bags_dir: bags                    # every bag directory / .mcap / .db3 in it is a case ...
    bags: [../../edge_ai_ros/assets/demo_bag]   # ... and so is each bag listed here
    engines:
      fp32: {manifest: path/to/detector.onnx.manifest.json}
      int8:                           # built by the compiler (content-addressed cache) before replaying
        compile: {onnx: path/to/detector.onnx, precision: int8, backend: onnxruntime,
                  calib: path/to/calibration_bag, calib_topic: /camera/image_raw/compressed}
        tolerances: {min_iou: 0.5, max_score_diff: 0.15, max_failed_frame_fraction: 0.1}

The pytest side (test/regression/conftest.py) only parametrizes over ``load_cases`` and
calls ``run_case`` with the ROS player; everything here runs without pytest, e.g. from a fleet's own harness.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from edge_ai_ros.errors import ConfigError, EdgeAiError
from edge_ai_ros.replay.compare import Tolerances
from edge_ai_ros.replay.player import FramePlayer
from edge_ai_ros.replay.session import ReplayJob, ReplayResult, error_result, run_replay


@dataclass(frozen=True, kw_only=True)
class RegressionCase:
    id: str  # "<bag name>-<engine name>", the pytest id
    bag: Path
    golden: Path
    manifest: Path
    topic: str
    backend: str = "auto"
    tolerances: Tolerances = field(default_factory=Tolerances)
    skip_reason: str = ""  # set when an input is missing, e.g. an engine not built on this machine
    compile: Mapping[str, Any] | None = None  # build the engine first (manifest is then the built one)


def _bag_paths(root: Path, config: Mapping[str, Any]) -> list[Path]:
    bags = [(root / p).resolve() for p in config.get("bags", [])]
    if config.get("bags_dir"):
        folder = root / str(config["bags_dir"])
        if folder.is_dir():
            bags += sorted(p.resolve() for p in folder.iterdir() if p.is_dir() or p.suffix in (".mcap", ".db3"))
    return bags


def _engine(root: Path, name: str, spec: Mapping[str, Any]) -> tuple[Path, str, Tolerances, dict[str, Any] | None]:
    try:
        tolerances = Tolerances(**dict(spec.get("tolerances", {})))
    except TypeError as err:
        raise ConfigError(f"engines.{name}.tolerances", str(err), fix="use the fields of replay.compare.Tolerances") from err
    backend = str(spec.get("backend", "auto"))
    if "compile" in spec:
        build = dict(spec["compile"])
        for key in ("onnx", "calib", "cache_dir"):
            if key in build:
                build[key] = str((root / str(build[key])).resolve())
        return Path(build.get("onnx", "")), str(build.get("backend", backend)), tolerances, build
    if "manifest" not in spec:
        raise ConfigError(f"engines.{name}", "has neither manifest nor compile", fix="give the engine's *.manifest.json")
    return (root / str(spec["manifest"])).resolve(), backend, tolerances, None


def build_case_engine(spec: Mapping[str, Any]) -> Path:
    """Compile the engine a case asks for (a cache hit after the first time); its manifest path."""
    from edge_ai_ros.compiler.build import BuildOptions, build_engine
    from edge_ai_ros.compiler.calibration_data import CalibrationConfig

    calib: dict[str, Any] = {"source": str(spec.get("calib", "")), "topic": str(spec.get("calib_topic", "")),
                             "max_samples": int(spec.get("max_samples", 32))}
    if "calib_method" in spec:  # only when given: CalibrationConfig owns the defaults
        calib["method"] = str(spec["calib_method"])
    if "percentile" in spec:
        calib["percentile"] = float(spec["percentile"])
    calibration = CalibrationConfig(**calib) if spec.get("calib") else None
    options = BuildOptions(onnx_path=str(spec["onnx"]), precision=str(spec.get("precision", "int8")),
                           backend=str(spec.get("backend", "onnxruntime")), calibration=calibration,
                           max_drop=float(spec.get("max_drop", 100.0)),
                           cache_dir=str(spec.get("cache_dir", ".cache/engines")))
    return build_engine(options).manifest_path


def _skip_reason(bag: Path, manifest: Path) -> str:
    if not bag.exists():
        return f"bag {bag} does not exist (not generated on this checkout)"
    if not manifest.is_file():
        return f"engine {manifest} does not exist (train the demo model or build the engine with 'edge-ai-ros compile')"
    return ""


def _missing_golden(config: Mapping[str, Any], golden: Path) -> str:
    """With ``missing_golden: skip`` a bag without golden is skipped (not yet recorded), else it fails."""
    if config.get("missing_golden", "fail") == "skip" and not golden.is_file():
        return f"{golden} not recorded yet (edge-ai-ros replay BAG --record-golden --golden {golden})"
    return ""


def load_cases(config_path: str | Path) -> list[RegressionCase]:
    """Every (bag, engine) pair the config describes, with a skip reason where an input is absent."""
    path = Path(config_path)
    try:
        config = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as err:
        raise ConfigError("regression config", f"cannot read {path}: {err}", fix="fix or create the YAML file") from err
    root = path.parent
    golden_dir = root / str(config.get("golden_dir", "golden"))
    cases = []
    for name, spec in dict(config.get("engines", {})).items():
        manifest, backend, tolerances, build = _engine(root, str(name), dict(spec))
        for bag in _bag_paths(root, config):
            cases.append(RegressionCase(
                id=f"{bag.name}-{name}", bag=bag, golden=golden_dir / f"{bag.name}.golden.json", manifest=manifest,
                topic=str(config.get("topic", "/camera/image_raw")), backend=backend, tolerances=tolerances,
                skip_reason=_skip_reason(bag, manifest) or _missing_golden(config, golden_dir / f"{bag.name}.golden.json"),
                compile=build))
    return cases


def run_case(case: RegressionCase, out_root: str | Path, *, play: FramePlayer,
             domain_id: int | None = None) -> ReplayResult:
    """Replay one case into out_root/<case id> with ``play`` (ros.drivers.bag_replayer.replay_frames);
    a case without its golden fails and says how to record it."""
    out_dir = Path(out_root) / case.id
    job = ReplayJob(bag=str(case.bag), topic=case.topic, manifest=str(case.manifest), out_dir=str(out_dir),
                    golden=str(case.golden), backend=case.backend, tolerances=case.tolerances, domain_id=domain_id)
    if case.compile is not None:
        try:
            case = dataclasses.replace(case, manifest=build_case_engine(case.compile))
        except EdgeAiError as err:
            return error_result(job, err)
        job = dataclasses.replace(job, manifest=str(case.manifest))
    if not case.golden.is_file():
        return error_result(job, ConfigError(
            "golden", f"{case.golden} does not exist",
            fix=f"record it from a trusted engine: edge-ai-ros replay {case.bag} --topic {case.topic} "
                f"--model {case.manifest} --record-golden --golden {case.golden}"))
    try:
        return run_replay(job, play)
    except EdgeAiError as err:
        return error_result(job, err)


def failure_message(case: RegressionCase, result: ReplayResult) -> str:
    """What a failing test prints: the verdict, the reason, the numbers and the report to open."""
    lines = [f"{case.id}: {result.verdict.upper()}: {result.reason}"]
    if result.map50 is not None:
        lines.append(f"  precision {result.precision:.4f}, recall {result.recall:.4f}, mAP@0.5 {result.map50:.4f}, "
                     f"frames failed {result.frames_failed} of {result.frames_read}")
    lines.append(f"  report: {result.report or '(none: the replay did not run)'}")
    if result.report_html:
        lines.append(f"  html: {result.report_html}")
    return "\n".join(lines)
