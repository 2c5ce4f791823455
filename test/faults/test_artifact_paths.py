"""An artifact path stays inside its manifest's folder unless an allowed root is configured."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from tiny_models import detector_manifest

from edge_ai_ros.artifact_files import ARTIFACT_ROOTS_ENV
from edge_ai_ros.errors import ManifestError
from edge_ai_ros.manifest import load_manifest, verify_artifact


def _pointing_at(tmp_path: Path, where: str) -> Path:
    (tmp_path / "elsewhere").mkdir()
    original = detector_manifest(tmp_path / "elsewhere")
    folder = tmp_path / "models"
    folder.mkdir()
    data = json.loads(original.read_text())
    data["artifact"]["path"] = where
    manifest = folder / "det.onnx.manifest.json"
    manifest.write_text(json.dumps(data))
    return manifest


@pytest.mark.parametrize("where", ["../elsewhere/det.onnx", "ABSOLUTE"])
def test_path_out_of_the_folder_is_refused(tmp_path: Path, where: str) -> None:
    target = str(tmp_path / "elsewhere" / "det.onnx") if where == "ABSOLUTE" else where
    manifest = _pointing_at(tmp_path, target)
    with pytest.raises(ManifestError, match=r"artifact\.path: .* points outside the manifest's folder") as caught:
        verify_artifact(load_manifest(manifest), manifest)
    assert load_manifest(manifest).artifact.sha256[:12] not in str(caught.value)


def test_a_symlink_out_of_the_folder_is_refused(tmp_path: Path) -> None:
    manifest = _pointing_at(tmp_path, "det.onnx")
    (manifest.parent / "det.onnx").symlink_to(tmp_path / "elsewhere" / "det.onnx")
    with pytest.raises(ManifestError, match="points outside"):
        verify_artifact(load_manifest(manifest), manifest)


def test_an_allowed_root_admits_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    manifest = _pointing_at(tmp_path, "../elsewhere/det.onnx")
    monkeypatch.setenv(ARTIFACT_ROOTS_ENV, str(tmp_path / "elsewhere"))
    assert verify_artifact(load_manifest(manifest), manifest) == (tmp_path / "elsewhere" / "det.onnx").resolve()


def test_inside_the_folder_is_fine(tmp_path: Path) -> None:
    manifest = _pointing_at(tmp_path, "sub/det.onnx")
    (manifest.parent / "sub").mkdir()
    shutil.copyfile(tmp_path / "elsewhere" / "det.onnx", manifest.parent / "sub" / "det.onnx")
    assert verify_artifact(load_manifest(manifest), manifest).parent.name == "sub"
