# ruff: noqa: F811  (pytest fixtures imported from compiler_models are redefined as parameters)
from __future__ import annotations

import threading
from pathlib import Path

import onnx
import pytest
from compiler_models import classifier_onnx, detector_onnx, image_folder  # noqa: F401 - pytest fixtures
from onnx import TensorProto, helper

from edge_ai_ros.compiler.build import BuildOptions, BuildResult, CompileCancelled, build_engine
from edge_ai_ros.compiler.cache import EngineCache
from edge_ai_ros.compiler.calibration_data import CalibrationConfig
from edge_ai_ros.errors import AccuracyGateError, CompileError, ConfigError
from edge_ai_ros.manifest import load_manifest, verify_artifact


def _options(model: Path, calib: Path, cache: Path, **kw: object) -> BuildOptions:
    base: dict[str, object] = {"precision": "int8", "backend": "onnxruntime", "cache_dir": str(cache),
                               "calibration": CalibrationConfig(source=str(calib))}
    return BuildOptions(onnx_path=str(model), **(base | kw))  # type: ignore[arg-type]


def _entries(cache: Path) -> list[Path]:
    return sorted(p for p in cache.glob("??/*") if p.is_dir())


@pytest.mark.parametrize(("backend", "precision"), [("onnxruntime", "fp32"), ("onnxruntime", "int8"),
                                                    ("openvino", "fp32"), ("openvino", "int8")])
def test_build_writes_artifact_and_complete_manifest(
    classifier_onnx: Path, image_folder: Path, tmp_path: Path, backend: str, precision: str,
) -> None:
    result = build_engine(_options(classifier_onnx, image_folder, tmp_path / "cache", backend=backend,
                                   precision=precision))
    manifest = load_manifest(result.manifest_path)
    assert verify_artifact(manifest, result.manifest_path) == result.engine_path.resolve()
    assert (manifest.backend, manifest.precision) == (backend, precision)
    assert manifest.backend_version and manifest.device.startswith("cpu:")
    assert manifest.build["cache_key"] == result.cache_key and manifest.build["build_time_s"] > 0
    assert manifest.calibration is not None and manifest.calibration["sample_count"] == 9
    assert len(manifest.calibration["data_fingerprint"]) == 64
    assert manifest.accuracy is not None and manifest.accuracy["metric"] == "top1_agreement"
    assert manifest.accuracy["drop"] <= 1.0 and manifest.accuracy["samples"] == 3
    if precision == "int8":
        assert manifest.calibration["flavour"] == "cpu_u8s8" and manifest.calibration["method"] == "minmax"


def test_same_inputs_hit_the_cache_without_building(
    classifier_onnx: Path, image_folder: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture,
) -> None:
    first = build_engine(_options(classifier_onnx, image_folder, tmp_path / "cache"))
    stages: list[str] = []
    caplog.set_level("INFO")
    second = build_engine(_options(classifier_onnx, image_folder, tmp_path / "cache"),
                          progress=lambda stage, frac, detail: stages.append(stage))
    assert not first.cache_hit and second.cache_hit
    assert second.engine_path == first.engine_path and "building" not in stages
    assert "cache hit" in caplog.text


@pytest.mark.parametrize("change", [{"precision": "fp32"}, {"backend": "openvino"},
                                    {"calibration": CalibrationConfig(source="", method="entropy")},
                                    {"calibration": CalibrationConfig(source="", method="percentile",
                                                                      percentile=99.9)}])
def test_any_change_builds_a_new_engine(
    classifier_onnx: Path, image_folder: Path, tmp_path: Path, change: dict[str, object],
) -> None:
    first = build_engine(_options(classifier_onnx, image_folder, tmp_path / "cache"))
    if "calibration" in change:
        calib = change["calibration"]
        assert isinstance(calib, CalibrationConfig)
        change = {"calibration": CalibrationConfig(source=str(image_folder), method=calib.method,
                                                   percentile=calib.percentile)}
    second = build_engine(_options(classifier_onnx, image_folder, tmp_path / "cache", **change))
    assert not second.cache_hit and second.cache_key != first.cache_key
    assert len(_entries(tmp_path / "cache")) == 2


def test_changed_model_bytes_build_anew(classifier_onnx: Path, image_folder: Path, tmp_path: Path) -> None:
    from compiler_models import make_classifier

    first = build_engine(_options(classifier_onnx, image_folder, tmp_path / "cache"))
    make_classifier(classifier_onnx, seed=1)
    assert build_engine(_options(classifier_onnx, image_folder, tmp_path / "cache")).cache_key != first.cache_key


def test_tampered_entry_is_rebuilt_not_loaded(
    classifier_onnx: Path, image_folder: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture,
) -> None:
    first = build_engine(_options(classifier_onnx, image_folder, tmp_path / "cache"))
    first.engine_path.write_bytes(b"not an engine")
    second = build_engine(_options(classifier_onnx, image_folder, tmp_path / "cache"))
    assert not second.cache_hit and "(size or sha256 differs)" in caplog.text
    verify_artifact(second.manifest, second.manifest_path)


def test_failed_gate_leaves_no_artifact_and_no_entry(detector_onnx: Path, image_folder: Path, tmp_path: Path) -> None:
    with pytest.raises(AccuracyGateError, match=r"map50 .* \(drop .* allowed 0.50\).*no engine was kept"):
        build_engine(_options(detector_onnx, image_folder, tmp_path / "cache", max_drop=0.5))
    assert _entries(tmp_path / "cache") == []
    assert not any((tmp_path / "cache" / "staging").iterdir())
    assert not list(tmp_path.rglob("*.int8.onnx"))


def test_detector_gate_reports_map_when_it_passes(detector_onnx: Path, image_folder: Path, tmp_path: Path) -> None:
    result = build_engine(_options(detector_onnx, image_folder, tmp_path / "cache", max_drop=100.0))
    assert result.manifest.accuracy is not None and result.manifest.accuracy["metric"] == "map50"
    assert 0.0 <= result.manifest.accuracy["candidate"] <= 100.0


def test_out_dir_gets_artifact_and_manifest(classifier_onnx: Path, image_folder: Path, tmp_path: Path) -> None:
    result = build_engine(_options(classifier_onnx, image_folder, tmp_path / "cache", backend="openvino",
                                   out_dir=str(tmp_path / "out")))
    assert result.engine_path.parent == tmp_path / "out" and result.engine_path.with_suffix(".bin").is_file()
    verify_artifact(load_manifest(result.manifest_path), result.manifest_path)


def test_concurrent_builds_of_one_key_build_once(classifier_onnx: Path, image_folder: Path, tmp_path: Path) -> None:
    results: list[BuildResult] = []
    threads = [threading.Thread(target=lambda: results.append(
        build_engine(_options(classifier_onnx, image_folder, tmp_path / "cache")))) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert sorted(r.cache_hit for r in results) == [False, True]
    assert len(_entries(tmp_path / "cache")) == 1
    verify_artifact(results[0].manifest, results[0].manifest_path)


def test_cache_write_probes_of_concurrent_builds_do_not_collide(tmp_path: Path) -> None:
    """Two builds check the cache folder at once; one probe must not unlink the other's (a flake once)."""
    cache, errors = EngineCache(tmp_path / "cache"), []

    def probe() -> None:
        for _ in range(300):
            try:
                cache.ensure_writable()
            except CompileError as err:
                errors.append(err)
                return

    threads = [threading.Thread(target=probe) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert errors == []
    assert not list((tmp_path / "cache").iterdir())  # no probe left behind


def test_missing_and_corrupt_onnx_are_refused(tmp_path: Path, image_folder: Path) -> None:
    with pytest.raises(CompileError, match="ONNX model not found"):
        build_engine(_options(tmp_path / "none.onnx", image_folder, tmp_path / "cache"))
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"\x08\x07garbage" * 10)
    with pytest.raises(CompileError, match="corrupt or invalid"):
        build_engine(_options(broken, image_folder, tmp_path / "cache"))
    assert not (tmp_path / "cache").exists() or _entries(tmp_path / "cache") == []


def test_unsupported_operator_names_it(tmp_path: Path, image_folder: Path) -> None:
    node = helper.make_node("Frobnicate", ["images"], ["out"], domain="com.example")
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, 32, 32])],
                              [helper.make_tensor_value_info("out", TensorProto.FLOAT, [1, 3, 32, 32])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("com.example", 1)])
    onnx.save(model, str(tmp_path / "custom.onnx"))
    for backend in ("onnxruntime", "openvino"):
        with pytest.raises(CompileError, match="Frobnicate"):
            build_engine(_options(tmp_path / "custom.onnx", image_folder, tmp_path / "cache", backend=backend,
                                  precision="fp32"))
    assert _entries(tmp_path / "cache") == []


def test_unwritable_cache_dir_fails_before_building(classifier_onnx: Path, image_folder: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    with pytest.raises(CompileError, match="cache directory .*a_file/cache is not writable"):
        build_engine(_options(classifier_onnx, image_folder, blocker / "cache"))


def test_cancel_stops_and_writes_nothing(classifier_onnx: Path, image_folder: Path, tmp_path: Path) -> None:
    seen: list[str] = []
    with pytest.raises(CompileCancelled, match="cancelled during quantizing"):
        build_engine(_options(classifier_onnx, image_folder, tmp_path / "cache"),
                     progress=lambda stage, frac, detail: seen.append(stage), cancelled=lambda: "calibrating" in seen)
    assert _entries(tmp_path / "cache") == []


def test_int8_without_calibration_is_a_config_error(classifier_onnx: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="int8 needs calibration data"):
        build_engine(BuildOptions(onnx_path=str(classifier_onnx), precision="int8", cache_dir=str(tmp_path / "c")))
    assert not (tmp_path / "c").exists() or _entries(tmp_path / "c") == []


def test_fp16_on_onnxruntime_is_refused_with_the_alternative(classifier_onnx: Path, image_folder: Path,
                                                            tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="use --backend openvino"):
        build_engine(_options(classifier_onnx, image_folder, tmp_path / "cache", precision="fp16"))
