"""A recipe names the user's own objects; every way they can be wrong is a ConfigError naming the
recipe field, raised by the check before any training (and `run_recipe` writes nothing then)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
import yaml
from compress_user_objects import build_toy, one_torch_thread

from edge_ai_ros.compression.recipe import load_recipe
from edge_ai_ros.compression.recipe_check import check_recipe
from edge_ai_ros.compression.runner import run_recipe
from edge_ai_ros.compression.steps import qat_config
from edge_ai_ros.compression.weights_io import save_weights
from edge_ai_ros.errors import ConfigError
from edge_ai_ros.host import host_features

USER = "compress_user_objects"


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    with one_torch_thread():
        yield


def _write(tmp_path: Path, model: dict[str, object] | None = None, steps: list[dict[str, object]] | None = None,
           **changes: object) -> Path:
    data: dict[str, object] = {
        "name": "toy", "output_dir": "out", "input_shape": [1, 3, 32, 32], "task": "classification",
        "model": model or {"factory": f"{USER}:build_toy", "kwargs": {"width": 16}, "train_steps": 8},
        "data": {"train": f"{USER}:toy_batches", "eval": f"{USER}:toy_batches",
                 "eval_kwargs": {"seed": 9, "batches": 2}},
        "measure": {"backends": ["onnxruntime"], "runs": 5, "warmup": 1},
        "steps": steps or [{"kind": "prune_structured", "ratio": 0.5, "finetune_steps": 2}],
    }
    data.update(changes)
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def _check(path: Path) -> None:
    check_recipe(load_recipe(path), path.parent)


@pytest.mark.parametrize(("model", "match"), [
    ({"factory": "no_such_pkg.models:build"}, r"model.factory: module 'no_such_pkg.models' does not import"),
    ({"factory": f"{USER}:nope"}, r"model.factory: 'compress_user_objects' has no attribute 'nope'"),
    ({"factory": f"{USER}:not_a_model"}, r"model.factory: .*not_a_model returned str, not an nn.Module"),
    ({"factory": f"{USER}:build_toy", "kwargs": {"depth": 3}}, r"model.factory: calling .* with \['depth'\] failed"),
    ({"factory": "no colon"}, r"model.factory: must name an object as 'package.module:attribute'"),
])
def test_factories_that_do_not_work_are_named(tmp_path: Path, model: dict[str, object], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        _check(_write(tmp_path, model=model))


def test_weights_that_do_not_fit_name_the_keys_and_shapes(tmp_path: Path) -> None:
    save_weights(build_toy(width=8), tmp_path / "narrow.safetensors")
    path = _write(tmp_path, model={"factory": f"{USER}:build_toy", "weights": "narrow.safetensors"})
    with pytest.raises(ConfigError, match=r"model.weights: narrow.safetensors does not fit the model: shapes differ: "
                                          r"stem.0.weight \(8, 3, 3, 3\) in the file, \(16, 3, 3, 3\) in the model"):
        _check(path)
    state = build_toy().state_dict()
    state["extra.weight"] = state.pop("head.weight")
    save_weights(state, tmp_path / "renamed.safetensors")
    path = _write(tmp_path, model={"factory": f"{USER}:build_toy", "weights": "renamed.safetensors"})
    with pytest.raises(ConfigError, match=r"missing \['head.weight'\], unexpected \['extra.weight'\]"):
        _check(path)


def test_a_pickled_model_is_refused_not_loaded(tmp_path: Path) -> None:
    torch.save(build_toy(), tmp_path / "whole_model.pt")  # a pickle of the module, not a state dict
    path = _write(tmp_path, model={"factory": f"{USER}:build_toy", "weights": "whole_model.pt"})
    with pytest.raises(ConfigError, match=r"model.weights: .*whole_model.pt was refused: its pickle would import "
                                          r"and call .*ToyNet.*\(fix: re-save the weights as safetensors"):
        _check(path)
    good = tmp_path / "state.pt"
    torch.save(build_toy().state_dict(), good)  # a plain state dict loads with weights_only=True
    _check(_write(tmp_path, model={"factory": f"{USER}:build_toy", "weights": "state.pt"}))


def test_an_unprunable_layer_is_named_with_the_way_out(tmp_path: Path) -> None:
    model = {"factory": f"{USER}:build_slicing", "train_steps": 2}
    with pytest.raises(ConfigError, match=r"steps\[0\].ignore: structured pruning breaks the model at layer "
                                          r"'second'.*\(fix: add 'first' to steps\[0\].ignore"):
        _check(_write(tmp_path, model=model, steps=[{"kind": "prune_structured", "ratio": 0.5, "round_to": 1}]))
    with pytest.raises(ConfigError, match=r"steps\[0\].ignore"):
        run_recipe(load_recipe(_write(tmp_path, model=model, steps=[{"kind": "prune_structured", "ratio": 0.5,
                                                                      "round_to": 1}])), base_dir=tmp_path)
    assert not (tmp_path / "out").exists()  # refused before the baseline trained: nothing written
    _check(_write(tmp_path, model=model, steps=[{"kind": "prune_structured", "ratio": 0.5, "round_to": 1,
                                                  "ignore": ["first"]}]))


def test_data_and_task_mismatches_are_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"data.train: gives inputs of shape \[8, 3, 32, 32\], the recipe's "
                                          r"input_shape is \[1, 3, 48, 48\]"):
        _check(_write(tmp_path, input_shape=[1, 3, 48, 48]))
    with pytest.raises(ConfigError, match=r"task: the loss fails on a batch of data.train"):
        _check(_write(tmp_path, task=f"{USER}:RegressionTask"))
    with pytest.raises(ConfigError, match=r"task.labels: the model outputs \[1, 4\], the yolo layout with 1 labels"):
        _check(_write(tmp_path, task={"kind": "detection", "loss": f"{USER}:build_slicing", "labels": ["a"]}))
    with pytest.raises(ConfigError, match=r"task.loss: detection needs the model's loss"):
        _check(_write(tmp_path, task="detection"))
    with pytest.raises(ConfigError, match=r"task.labels: the model outputs \[1, 4\], a classifier with 3 labels"):
        _check(_write(tmp_path, task={"kind": "classification", "labels": ["a", "b", "c"]}))
    with pytest.raises(ConfigError, match=r"task.preprocess: .* is not a preprocessing spec"):
        _check(_write(tmp_path, task={"kind": "classification", "preprocess": {"letterbx": False}}))


def test_qat_weight_range_defaults_to_seven_bits_and_full_range_is_checked_against_the_cpu(tmp_path: Path) -> None:
    assert qat_config("cpu").weight_qmax == 64 and qat_config("tensorrt").weight_qmax == 127
    path = _write(tmp_path, steps=[{"kind": "qat", "steps": 2, "weight_qmax": 127}])
    features = host_features()
    if features.is_x86 and not features.int8_dot:
        with pytest.raises(ConfigError, match=r"steps\[0\].weight_qmax: 127 needs an INT8 dot product"):
            _check(path)
    else:
        _check(path)
    with pytest.raises(ConfigError, match=r"steps.qat.weight_qmax: must be 64 or 127"):
        load_recipe(_write(tmp_path, steps=[{"kind": "qat", "weight_qmax": 100}]))


def test_a_recipe_runs_a_user_module_end_to_end(tmp_path: Path) -> None:
    steps = [{"kind": "prune_structured", "name": "pruned", "ratio": 0.5, "finetune_steps": 3},
             {"kind": "qat", "name": "int8", "from": "baseline", "steps": 3, "calibration_batches": 2}]
    report = run_recipe(load_recipe(_write(tmp_path, steps=steps)), base_dir=tmp_path, progress=False)
    rows = {r["name"]: r for r in json.loads((report.parent / "report.json").read_text(encoding="utf-8"))}
    assert set(rows) == {"baseline", "pruned", "int8"}
    assert rows["pruned"]["macs"] < 0.5 * rows["baseline"]["macs"]
    assert all(r["metric_name"] == "top-1" and 0.0 <= r["metric"] <= 1.0 for r in rows.values())
    assert rows["int8"]["precision"] == "int8" and rows["int8"]["latency_ms"]["onnxruntime"] > 0
    manifest = json.loads((report.parent / "int8" / "model.onnx.manifest.json").read_text(encoding="utf-8"))
    assert manifest["task"] == "classification" and manifest["host"]["int8_format"]["weight_qmax"] == 64


def test_ctrl_c_in_training_leaves_the_previous_results(tmp_path: Path) -> None:
    previous = tmp_path / "out" / "report.md"
    previous.parent.mkdir()
    previous.write_text("previous run\n", encoding="utf-8")
    path = _write(tmp_path, data={"train": f"{USER}:interrupted_batches", "eval": f"{USER}:toy_batches"})
    with pytest.raises(KeyboardInterrupt):
        run_recipe(load_recipe(path), base_dir=tmp_path, progress=False)
    assert previous.read_text(encoding="utf-8") == "previous run\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "recipe.yaml"]  # no staging folder left
