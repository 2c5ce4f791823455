# ruff: noqa: F811  (pytest fixtures imported from compiler_models are redefined as parameters)
"""Every file of an artifact is hashed: a changed OpenVINO .bin is neither a cache hit nor loaded."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from compiler_models import classifier_onnx, make_classifier  # noqa: F401 - pytest fixture

from edge_ai_ros.compiler.build import BuildOptions, build_engine
from edge_ai_ros.errors import ManifestError
from edge_ai_ros.manifest import load_manifest, verify_artifact

pytest.importorskip("openvino")


def _build(model: Path, cache: Path) -> tuple[Path, bool]:
    result = build_engine(BuildOptions(onnx_path=str(model), precision="fp32", backend="openvino",
                                       cache_dir=str(cache)))
    return result.manifest_path, result.cache_hit


def _flip_bytes_in_place(path: Path, count: int = 256) -> None:
    data = bytearray(path.read_bytes())
    middle = len(data) // 2
    data[middle:middle + count] = bytes(255 - b for b in data[middle:middle + count])
    path.write_bytes(bytes(data))  # same size: only the hash can tell


def test_manifest_lists_every_openvino_file(classifier_onnx: Path, tmp_path: Path) -> None:
    manifest_file, _ = _build(classifier_onnx, tmp_path / "cache")
    files = {Path(f.path).suffix: f for f in load_manifest(manifest_file).artifact.files}
    assert set(files) == {".xml", ".bin"}
    assert files[".bin"].size_bytes == (manifest_file.parent / files[".bin"].path).stat().st_size


def test_corrupted_bin_is_no_cache_hit_and_is_not_loaded(classifier_onnx: Path, tmp_path: Path) -> None:
    manifest_file, hit = _build(classifier_onnx, tmp_path / "cache")
    assert not hit
    weights = next(manifest_file.parent.glob("*.bin"))
    _flip_bytes_in_place(weights)
    with pytest.raises(ManifestError, match=rf"artifact file .*{weights.name} does not match") as caught:
        verify_artifact(load_manifest(manifest_file), manifest_file)
    assert "sha256 differs" in str(caught.value) and load_manifest(manifest_file).artifact.sha256[:12] not in str(
        caught.value)
    from edge_ai_ros.pipeline import Perception

    with pytest.raises(ManifestError, match=weights.name):
        Perception(manifest_file, backend="openvino")
    rebuilt, hit = _build(classifier_onnx, tmp_path / "cache")
    assert not hit  # the corrupted entry was rebuilt, not served
    verify_artifact(load_manifest(rebuilt), rebuilt)


def test_truncated_bin_is_refused(classifier_onnx: Path, tmp_path: Path) -> None:
    manifest_file, _ = _build(classifier_onnx, tmp_path / "cache")
    weights = next(manifest_file.parent.glob("*.bin"))
    weights.write_bytes(weights.read_bytes()[:-100])
    with pytest.raises(ManifestError, match=weights.name):
        verify_artifact(load_manifest(manifest_file), manifest_file)


def test_manifest_without_file_list_is_refused_by_a_node_and_rebuilt_by_the_compiler(
    classifier_onnx: Path, tmp_path: Path,
) -> None:
    manifest_file, _ = _build(classifier_onnx, tmp_path / "cache")
    data = json.loads(manifest_file.read_text())
    del data["artifact"]["files"]  # as written before per-file hashes existed
    manifest_file.write_text(json.dumps(data))
    with pytest.raises(ManifestError, match=r"artifact.files: .* lists no hash for .*\.bin"):
        verify_artifact(load_manifest(manifest_file), manifest_file)
    rebuilt, hit = _build(classifier_onnx, tmp_path / "cache")
    assert not hit and load_manifest(rebuilt).artifact.files


def test_legacy_single_file_onnx_manifest_still_loads() -> None:
    shipped = Path(__file__).resolve().parents[2] / "edge_ai_ros" / "assets" / "demo_detector"
    manifest_file = shipped / "detector.onnx.manifest.json"
    manifest = load_manifest(manifest_file)
    assert manifest.artifact.files == ()  # written before the list existed: the main file's hash covers it
    assert verify_artifact(manifest, manifest_file) == (shipped / "detector.onnx").resolve()


def test_onnx_external_data_is_listed_and_checked(tmp_path: Path) -> None:
    import onnx

    from edge_ai_ros.artifact_files import describe_files, verify_files

    model = onnx.load(str(make_classifier(tmp_path / "src.onnx", classes=300)))
    main = tmp_path / "ext" / "model.onnx"
    main.parent.mkdir()
    onnx.save(model, str(main), save_as_external_data=True, location="model.weights", size_threshold=0)
    files = describe_files(main, "onnx")
    assert [f.path for f in files] == ["model.onnx", "model.weights"]
    verify_files(files, folder=main.parent, main=main, fmt="onnx", manifest_file="m.json")
    _flip_bytes_in_place(main.parent / "model.weights", count=16)
    with pytest.raises(ManifestError, match=r"model\.weights does not match"):
        verify_files(files, folder=main.parent, main=main, fmt="onnx", manifest_file="m.json")
