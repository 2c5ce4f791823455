"""Every installed CPU backend runs the tiny ONNX models exactly and reports itself truthfully."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from tiny_models import identity_conv

from edge_ai_ros.engines.base import Engine, TensorSpec
from edge_ai_ros.engines.options import EngineOptions
from edge_ai_ros.engines.registry import available_backends, load_engine
from edge_ai_ros.errors import EngineError

CPU_BACKENDS = [b for b in ("onnxruntime", "openvino") if b in available_backends()]
pytestmark = pytest.mark.skipif(not CPU_BACKENDS, reason="no CPU backend installed")


@pytest.fixture(params=CPU_BACKENDS)
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Engine:
    path = identity_conv(tmp_path / "identity.onnx", height=4, width=6)
    loaded = load_engine(path, backend=request.param, options=EngineOptions(threads=1))
    yield loaded  # type: ignore[misc]
    loaded.close()


def test_identity_conv_output_equals_input(engine: Engine) -> None:
    image = np.random.default_rng(1).random((1, 3, 4, 6), dtype=np.float32)
    out = engine.infer({"images": image})
    assert list(out) == ["features"]
    np.testing.assert_allclose(out["features"], image, rtol=1e-6, atol=1e-6)


def test_outputs_are_not_overwritten_by_the_next_call(engine: Engine) -> None:
    ones = np.ones((1, 3, 4, 6), np.float32)
    first = engine.infer({"images": ones})["features"]
    engine.infer({"images": ones * 2})
    assert float(first.mean()) == 1.0


def test_info_describes_specs_version_and_precision(engine: Engine) -> None:
    info = engine.info
    assert info.inputs == (TensorSpec(name="images", shape=(1, 3, 4, 6), dtype="float32"),)
    assert info.outputs == (TensorSpec(name="features", shape=(1, 3, 4, 6), dtype="float32"),)
    runtime = __import__(info.backend)
    assert info.backend_version == runtime.__version__
    assert info.precision == "fp32"  # OpenVINO's bf16 default must not leak into an fp32 model
    assert info.device.startswith("cpu:")
    assert info.details["backend_choice"] == "asked for explicitly"


@pytest.mark.parametrize(
    ("feeds", "pattern"),
    [({}, "input 'images' is missing"),
     ({"images": np.zeros((1, 3, 4, 5), np.float32)}, "got float32 \\[1, 3, 4, 5\\], the model wants"),
     ({"images": np.zeros((1, 3, 4, 6), np.float64)}, "got float64")],
)
def test_bad_feeds_raise_engine_error(engine: Engine, feeds: dict[str, np.ndarray], pattern: str) -> None:
    with pytest.raises(EngineError, match=pattern):
        engine.infer(feeds)


def test_closed_engine_refuses_and_close_is_idempotent(engine: Engine) -> None:
    engine.close()
    engine.close()
    with pytest.raises(EngineError, match="closed"):
        engine.infer({"images": np.zeros((1, 3, 4, 6), np.float32)})


@pytest.mark.parametrize("backend", CPU_BACKENDS)
def test_dynamic_batch_is_reported_and_runs(backend: str, tmp_path: Path) -> None:
    path = identity_conv(tmp_path / "dyn.onnx", height=2, width=2, batch="batch")
    engine = load_engine(path, backend=backend)
    assert isinstance(engine.info.inputs[0].shape[0], str)
    out = engine.infer({"images": np.ones((2, 3, 2, 2), np.float32)})
    assert out["features"].shape == (2, 3, 2, 2)
    engine.close()


@pytest.mark.parametrize("backend", CPU_BACKENDS)
def test_corrupt_model_raises_engine_error(backend: str, tmp_path: Path) -> None:
    path = tmp_path / "broken.onnx"
    path.write_bytes(b"\x08\x07 not a protobuf model")
    with pytest.raises(EngineError, match=f"{backend} could not load"):
        load_engine(path, backend=backend)


def test_openvino_bf16_hint_is_reported_when_asked(tmp_path: Path) -> None:
    if "openvino" not in CPU_BACKENDS:
        pytest.skip("openvino not installed")
    engine = load_engine(identity_conv(tmp_path / "m.onnx"), backend="openvino",
                         options=EngineOptions(precision_hint="bf16"))
    assert engine.info.details["inference_precision"] in ("bf16", "f32")  # f32 on CPUs without bf16
    assert engine.info.precision == {"bf16": "bf16", "f32": "fp32"}[engine.info.details["inference_precision"]]
    engine.close()


def test_openvino_ir_is_read_and_chosen_automatically(tmp_path: Path) -> None:
    if "openvino" not in CPU_BACKENDS:
        pytest.skip("openvino not installed")
    import openvino as ov

    xml = tmp_path / "identity.xml"
    ov.save_model(ov.Core().read_model(str(identity_conv(tmp_path / "m.onnx", height=2, width=2))), str(xml))
    engine = load_engine(xml)
    assert engine.info.backend == "openvino"
    assert engine.info.details["backend_choice"].startswith("openvino is")
    image = np.arange(12, dtype=np.float32).reshape(1, 3, 2, 2)
    np.testing.assert_allclose(engine.infer({"images": image})["features"], image)
    engine.close()
