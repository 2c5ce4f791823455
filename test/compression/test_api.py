"""The library API on a model the test defines (not the demo's, not the shipped classifier):
structured pruning through residual adds, concats, depthwise and grouped convs and a linear head,
distillation, QAT, export checked against torch, INT8 through the compiler."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from compress_user_objects import build_toy, one_torch_thread, toy_batches
from torch import nn

from edge_ai_ros.compression import steps as api
from edge_ai_ros.compression.classification_task import ClassificationTask
from edge_ai_ros.compression.export_step import ExportOptions, export_fp32, export_qdq
from edge_ai_ros.compression.model_stats import count_macs, count_params
from edge_ai_ros.compression.prune_structured import prune_channels
from edge_ai_ros.compression.ptq import compile_int8
from edge_ai_ros.compression.task import onnx_predict, torch_predict
from edge_ai_ros.manifest import load_manifest

EXAMPLE = torch.rand(1, 3, 32, 32)


class Residual(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a, self.b = nn.Conv2d(3, 16, 3, 1, 1), nn.Conv2d(16, 16, 3, 1, 1)
        self.act, self.c = nn.ReLU(), nn.Conv2d(16, 4, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.act(self.a(x))
        return self.c(self.act(y + self.b(y)))  # type: ignore[no-any-return]


class Concat(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a, self.b = nn.Conv2d(3, 16, 3, 1, 1), nn.Conv2d(3, 16, 1)
        self.act, self.c = nn.ReLU(), nn.Conv2d(32, 4, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.c(self.act(torch.cat([self.a(x), self.b(x)], 1)))  # type: ignore[no-any-return]


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    with one_torch_thread():
        yield


def _convs(groups: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(3, 32, 3, 1, 1), nn.ReLU(), nn.Conv2d(32, 32, 3, 1, 1, groups=groups), nn.ReLU(),
                         nn.Conv2d(32, 4, 1))


def _linear_head() -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(3, 16, 3, 2, 1), nn.ReLU(), nn.Flatten(), nn.Linear(16 * 16 * 16, 32), nn.ReLU(),
                         nn.Linear(32, 4))


@pytest.mark.parametrize(("build", "pruned"), [
    (Residual, ("a", "b")),  # both ends of the add shrink together
    (Concat, ("a", "b")),  # each concat input shrinks, the consumer's input follows
    (lambda: _convs(32), ("0", "2")),  # depthwise: its channels follow its input
    (lambda: _convs(4), ("0", "2")),  # grouped: pruned per group
    (_linear_head, ("0", "3")),  # conv -> flatten -> linear, and a hidden linear layer
])
def test_structured_pruning_follows_each_kind_of_coupling(build: type[nn.Module], pruned: tuple[str, ...],
                                                         tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = build().eval()
    with torch.no_grad():
        before_out = model(EXAMPLE)
    widths = {n: _width(m) for n, m in model.named_modules() if n in pruned}
    macs = count_macs(model, EXAMPLE)
    prune_channels(model, EXAMPLE, ratio=0.5, round_to=1)
    for name in pruned:
        assert _width(model.get_submodule(name)) <= widths[name] // 2 + 1, name
    assert count_macs(model, EXAMPLE) < 0.6 * macs
    with torch.no_grad():
        assert model(torch.rand(2, 3, 32, 32)).shape[1:] == before_out.shape[1:]  # the output format stays


def _width(module: nn.Module) -> int:
    return int(module.out_channels if isinstance(module, nn.Conv2d) else module.out_features)  # type: ignore[arg-type]


def test_library_api_compresses_a_user_module(tmp_path: Path) -> None:
    task = ClassificationTask(labels=("tl", "tr", "bl", "br"))
    train, held_out = toy_batches(seed=1, batches=10), toy_batches(seed=2, batches=4)
    model = build_toy(width=32)
    api.finetune(model, train, task, steps=40, lr=3e-3, progress=False)
    teacher = copy.deepcopy(model)
    params, macs = count_params(model), count_macs(model, EXAMPLE)

    result = api.prune_structured_step(model, EXAMPLE, train, task, ratio=0.5, round_to=8, finetune_steps=5,
                                       progress=False)
    assert model.stem[0].out_channels == result.channels_after["stem.0"] < result.channels_before["stem.0"]
    assert model.depthwise[0].groups == model.depthwise[0].out_channels == 32  # of 64  # still depthwise, narrower
    assert model.grouped[0].groups == 4 and model.grouped[0].out_channels == 32  # still 4 groups, of 64
    assert model.head.out_features == 4 and result.ignored == ("head",)  # the output format: never narrowed
    assert not result.left_whole
    assert count_params(model) < 0.5 * params and count_macs(model, EXAMPLE) < 0.5 * macs

    note = api.distill_step(model, teacher, train, task, steps=5, temperature=4.0, progress=False)
    assert "KD T=4.0" in note
    options = ExportOptions(check_input=held_out[0][0][:1], model_id="toy", atol=1e-4)
    exported = export_fp32(model, tmp_path / "fp32" / "model.onnx", task, options)
    batch = held_out[0][0].numpy()
    assert np.abs(onnx_predict(exported.onnx_path)(batch) - torch_predict(model)(batch)).max() < 1e-4
    manifest = load_manifest(exported.manifest_path)
    assert manifest.task == "classification" and manifest.labels == ("tl", "tr", "bl", "br")
    assert 0.0 <= task.evaluate(onnx_predict(exported.onnx_path), held_out) <= 1.0

    qat_model = copy.deepcopy(teacher)
    api.qat_step(qat_model, EXAMPLE, train, task, steps=5, progress=False)
    qdq = export_qdq(qat_model, tmp_path / "qat" / "model.onnx", task, options)
    assert qdq.agreement is not None and qdq.agreement.passed and qdq.qdq_nodes > 0
    host = load_manifest(qdq.manifest_path).host
    assert host is not None and host["int8_format"]["weight_qmax"] == 64 and host["requires"] == []
    assert host["checked_with"] == "onnxruntime" and host["checked_on"]


def test_user_module_compiles_to_int8_through_the_compiler(tmp_path: Path) -> None:
    task = ClassificationTask()
    train = toy_batches(seed=1, batches=10)
    model = build_toy()
    api.finetune(model, train, task, steps=40, lr=3e-3, progress=False)
    options = ExportOptions(check_input=train[0][0][:1], model_id="toy")
    exported = export_fp32(model, tmp_path / "model.onnx", task, options)
    engine = compile_int8(exported.onnx_path, tmp_path / "int8", train, backend="onnxruntime", count=32)
    manifest = load_manifest(engine.with_name(engine.name + ".manifest.json"))
    assert manifest.precision == "int8" and manifest.task == "classification"
    out = onnx_predict(engine)(train[0][0].numpy())
    assert out.shape == (8, 4)
