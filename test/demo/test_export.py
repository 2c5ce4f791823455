"""ONNX export matches torch through ONNX Runtime; the manifest loads and verifies; shipped assets are whole."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch

from edge_ai_ros.demo.export import check_frame, export_onnx, write_manifest
from edge_ai_ros.demo.scene import CLASSES
from edge_ai_ros.manifest import load_manifest, verify_artifact
from edge_ai_ros.models.detector import Detector, DetectorConfig
from edge_ai_ros.models.detector_weights import load_detector

ASSETS = Path(__file__).resolve().parents[2] / "edge_ai_ros" / "assets" / "demo_detector"


def test_export_matches_torch_and_manifest_verifies(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = Detector(DetectorConfig.scaled(0.5)).eval()
    report = export_onnx(model, tmp_path / "det.onnx")
    assert report.max_abs_diff < 1e-3 and report.size_bytes == (tmp_path / "det.onnx").stat().st_size
    session = ort.InferenceSession(str(report.path), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["images"]
    assert [o.name for o in session.get_outputs()] == ["predictions"]
    batch = np.concatenate([check_frame(), check_frame()])  # dynamic batch
    (out,) = session.run(None, {"images": batch})
    with torch.no_grad():
        np.testing.assert_allclose(out, model(torch.from_numpy(batch)).numpy(), atol=1e-3)

    manifest_file = write_manifest(report.path, accuracy={"map": 0.5}, build={"steps": 1})
    assert manifest_file.name == "det.onnx.manifest.json"
    manifest = load_manifest(manifest_file)
    assert verify_artifact(manifest, manifest_file) == report.path.resolve()
    assert manifest.model_id == f"demo_detector-{report.sha256[:8]}"
    assert manifest.labels == CLASSES and manifest.task == "detection" and manifest.decoder.kind == "yolo"
    assert manifest.inputs[0].shape == ("batch", 3, 320, 320)
    assert manifest.outputs[0].shape == ("batch", 2100, 8)
    assert (manifest.preprocess.width, manifest.preprocess.pad_value, manifest.preprocess.letterbox) == (320, 114, True)
    assert manifest.accuracy == {"map": 0.5} and manifest.build == {"steps": 1}


def test_no_partial_file_after_failed_export(tmp_path: Path) -> None:
    class Broken(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            raise RuntimeError("cannot trace")

    try:
        export_onnx(Broken(), tmp_path / "broken.onnx")
    except RuntimeError:
        pass
    assert list(tmp_path.iterdir()) == []


def test_shipped_detector_is_whole_and_accurate() -> None:
    manifest_file = ASSETS / "detector.onnx.manifest.json"
    manifest = load_manifest(manifest_file)
    verify_artifact(manifest, manifest_file)
    weights = ASSETS / "detector.safetensors"
    assert weights.stat().st_size < 5 * 1024 * 1024
    assert manifest.accuracy is not None and manifest.accuracy["map"] > 0.5
    model = load_detector(weights)
    session = ort.InferenceSession(str(ASSETS / "detector.onnx"), providers=["CPUExecutionProvider"])
    frame = check_frame()
    with torch.no_grad():
        np.testing.assert_allclose(session.run(None, {"images": frame})[0], model(torch.from_numpy(frame)).numpy(),
                                   atol=1e-3)
