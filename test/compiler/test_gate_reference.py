"""BuildOptions.reference_onnx: the accuracy gate compares with that FP32 model, and it is in the key.

Real ONNX Runtime builds of the shipped FP32 demo detector, gated on frames of the demo bag.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

from edge_ai_ros.compiler.build import BuildOptions, build_engine
from edge_ai_ros.compiler.calibration_data import CalibrationConfig
from edge_ai_ros.errors import AccuracyGateError

ASSETS = Path(__file__).resolve().parents[2] / "edge_ai_ros" / "assets"
ONNX = ASSETS / "demo_detector" / "detector.onnx"
BAG = ASSETS / "demo_bag"


def _options(cache: Path, reference: Path | None, max_drop: float = 1.0) -> BuildOptions:
    return BuildOptions(onnx_path=str(ONNX), precision="fp32", backend="onnxruntime", cache_dir=str(cache),
                        calibration=CalibrationConfig(source=str(BAG), topic="/camera/image_raw/compressed",
                                                      max_samples=12),
                        reference_onnx="" if reference is None else str(reference), max_drop=max_drop)


def _scrambled_copy(folder: Path) -> Path:
    """The same graph with the stem convolution's weights shuffled: same inputs/outputs, other boxes."""
    model = onnx.load(str(ONNX))
    first = next(t for t in model.graph.initializer if len(t.dims) == 4)
    weights = numpy_helper.to_array(first).copy()
    np.random.default_rng(0).shuffle(weights.reshape(-1))
    first.CopyFrom(numpy_helper.from_array(weights, first.name))
    path = folder / "scrambled.onnx"
    onnx.save(model, str(path))
    return path


def test_the_gate_scores_the_engine_against_the_given_reference(tmp_path: Path) -> None:
    own = build_engine(_options(tmp_path / "a", None))
    assert own.manifest.accuracy is not None and own.manifest.accuracy["candidate"] == pytest.approx(100.0)
    with pytest.raises(AccuracyGateError, match="no engine was kept"):
        build_engine(_options(tmp_path / "b", _scrambled_copy(tmp_path)))


def test_the_reference_is_part_of_the_cache_key(tmp_path: Path) -> None:
    plain = build_engine(_options(tmp_path, None))
    same_file = build_engine(_options(tmp_path, ONNX))
    assert same_file.cache_key != plain.cache_key and not same_file.cache_hit
    assert same_file.manifest.build["key_inputs"]["flags"]["gate_reference_sha256"] == same_file.manifest.source_onnx_sha256
    assert build_engine(_options(tmp_path, ONNX)).cache_hit
