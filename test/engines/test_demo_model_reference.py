"""The shipped demo detector gives the PyTorch reference's detections on every CPU backend (fp32).

OpenVINO runs with the f32 precision hint (the fp32 manifest's default), so this also proves
that "FP32 through OpenVINO" is FP32 here and not its bf16 default.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edge_ai_ros.engines.options import EngineOptions
from edge_ai_ros.engines.registry import available_backends
from edge_ai_ros.pipeline import Perception

ASSETS = Path(__file__).resolve().parents[2] / "edge_ai_ros" / "assets" / "demo_detector"
MANIFEST = ASSETS / "detector.onnx.manifest.json"
WEIGHTS = ASSETS / "detector.safetensors"
BACKENDS = [b for b in ("onnxruntime", "openvino") if b in available_backends()]
pytestmark = pytest.mark.skipif(not (MANIFEST.is_file() and WEIGHTS.is_file()),
                                reason="demo detector not trained/exported yet")
BOX_TOLERANCE_PX = 0.5
SCORE_TOLERANCE = 2e-3


@pytest.fixture(scope="module")
def frame_and_reference() -> tuple[np.ndarray, list[tuple[int, float, tuple[float, ...]]]]:
    torch = pytest.importorskip("torch")
    from edge_ai_ros.decoders import make_decoder
    from edge_ai_ros.demo.scene import scene_at
    from edge_ai_ros.engines.torch_backend import TorchEngine
    from edge_ai_ros.manifest import load_manifest
    from edge_ai_ros.models.detector_weights import load_detector
    from edge_ai_ros.preprocess import preprocess

    torch.manual_seed(0)
    manifest = load_manifest(MANIFEST)
    image = scene_at("eval", 0, 3).image
    engine = TorchEngine(load_detector(WEIGHTS), [manifest.inputs[0].name], [manifest.outputs[0].name])
    tensor, transform = preprocess(image, manifest.preprocess)
    output = engine.infer({manifest.inputs[0].name: tensor})[manifest.outputs[0].name]
    detections = make_decoder(manifest.decoder, manifest.labels).decode(output, transform).detections
    return image, [(d.class_id, d.score, d.box) for d in detections]


@pytest.mark.parametrize("backend", BACKENDS)
def test_detections_match_pytorch(backend: str, frame_and_reference: tuple[np.ndarray, list]) -> None:  # type: ignore[type-arg]
    image, reference = frame_and_reference
    assert reference, "the reference found nothing on the test frame: pick a frame with objects"
    with Perception(MANIFEST, backend=backend, options=EngineOptions()) as perception:
        assert perception.engine_info.precision == "fp32"
        got = perception.run(image).detections
    # Compare the confident detections (borderline ones may cross the threshold by rounding).
    confident = [r for r in reference if r[1] > perception.manifest.decoder.score_threshold + SCORE_TOLERANCE]
    assert len(got) >= len(confident)
    for class_id, score, box in confident:
        match = min(got, key=lambda d: max(abs(a - b) for a, b in zip(d.box, box, strict=True)))
        assert match.class_id == class_id
        assert match.score == pytest.approx(score, abs=SCORE_TOLERANCE)
        assert match.box == pytest.approx(box, abs=BOX_TOLERANCE_PX)
