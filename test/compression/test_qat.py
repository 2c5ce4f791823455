"""QAT: fake quantization trains, exports QDQ with int8 weights, and ONNX Runtime runs it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from edge_ai_ros.compression.qat import QatConfig, calibrate_observers, count_fake_quant, freeze_qat, prepare_qat
from edge_ai_ros.compression.qdq_onnx import count_qdq_nodes, finalize_qdq
from edge_ai_ros.errors import ConfigError
from edge_ai_ros.models.detector import Detector, DetectorConfig


def _qat_detector() -> tuple[Detector, torch.Tensor]:
    torch.manual_seed(0)
    model = Detector(DetectorConfig())
    example = torch.rand(1, 3, 64, 64)
    model.train()
    with torch.no_grad():
        model(torch.rand(4, 3, 64, 64))  # realistic BN statistics
    model.eval()
    return model, example


def test_qat_model_exports_qdq_that_onnxruntime_runs_close_to_torch(tmp_path: Path) -> None:
    model, example = _qat_detector()
    with torch.no_grad():
        float_out = model(example)
    prepare_qat(model, example, QatConfig(activation="u8"))
    assert count_fake_quant(model) == sum(isinstance(m, torch.nn.Conv2d) for m in model.modules())
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules())  # folded
    calibrate_observers(model, [torch.rand(2, 3, 64, 64) for _ in range(3)])
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-4)
    loss = model.forward_raw(torch.rand(2, 3, 64, 64))[0].pow(2).mean()
    loss.backward()  # gradients pass through the fake quantizers (straight-through)
    assert model.stem.conv.conv.weight.grad is not None and model.stem.conv.conv.weight.grad.abs().sum() > 0
    optimizer.zero_grad()
    freeze_qat(model)
    model.eval()
    with torch.no_grad():
        qat_out = model(example)
    path = tmp_path / "qat.onnx"
    torch.onnx.export(model, (example,), str(path), dynamo=False, opset_version=17, input_names=["images"],
                      output_names=["predictions"], dynamic_axes={"images": {0: "batch"}, "predictions": {0: "batch"}})
    counts = finalize_qdq(path)
    assert counts["int8_weights"] >= 20 and counts["int32_biases"] >= 20
    nodes = count_qdq_nodes(path)
    assert nodes["QuantizeLinear"] > 0 and nodes["DequantizeLinear"] > nodes["QuantizeLinear"]
    graph = onnx.load(str(path)).graph
    assert any(init.data_type == onnx.TensorProto.INT8 for init in graph.initializer)
    out = ort.InferenceSession(str(path)).run(None, {"images": example.numpy()})[0]
    scores = slice(4, None)  # objectness and classes in [0, 1]
    assert np.abs(out[..., scores] - qat_out.numpy()[..., scores]).max() < 0.02
    assert np.abs(out[..., scores] - float_out.numpy()[..., scores]).max() < 0.1
    batch = ort.InferenceSession(str(path)).run(None, {"images": np.random.rand(3, 3, 64, 64).astype(np.float32)})[0]
    assert batch.shape[0] == 3  # dynamic batch survives


def test_qat_refuses_unknown_activation_and_skip_layer() -> None:
    with pytest.raises(ConfigError, match="qat.activation"):
        QatConfig(activation="fp8")
    model, example = _qat_detector()
    with pytest.raises(ConfigError, match="no Conv2d named"):
        prepare_qat(model, example, QatConfig(skip=("nope",)))


def test_compiler_builds_the_qat_qdq_model_and_keeps_it_int8(tmp_path: Path) -> None:
    from edge_ai_ros.compiler.build import BuildOptions, build_engine

    model, example = _qat_detector()
    prepare_qat(model, example)
    calibrate_observers(model, [torch.rand(2, 3, 64, 64)])
    freeze_qat(model)
    path = tmp_path / "qat.onnx"
    torch.onnx.export(model.eval(), (example,), str(path), dynamo=False, opset_version=17, input_names=["images"],
                      output_names=["predictions"], dynamic_axes={"images": {0: "batch"}, "predictions": {0: "batch"}})
    finalize_qdq(path)
    # The graph already carries its INT8 scales: build it as is (no second calibration).
    result = build_engine(BuildOptions(onnx_path=str(path), precision="fp32", backend="onnxruntime",
                                       cache_dir=str(tmp_path / "cache")))
    assert result.engine_path.is_file()
    assert count_qdq_nodes(result.engine_path)["DequantizeLinear"] > 0
    out = ort.InferenceSession(str(result.engine_path)).run(None, {"images": example.numpy()})[0]
    assert out.shape == (1, 84, 5 + model.config.num_classes)
    assert result.manifest.precision == "int8", "a QDQ model must be recorded as int8, whatever was asked"
