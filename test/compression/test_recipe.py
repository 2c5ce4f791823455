"""Bad recipes fail with ConfigError naming the field, before any training starts."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from edge_ai_ros.compression.recipe import load_recipe, recipe_from_dict
from edge_ai_ros.compression.recipe_check import check_recipe
from edge_ai_ros.compression.runner import run_recipe
from edge_ai_ros.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]
DEMO = "edge_ai_ros.demo.compress_factories"
DEMO_TASK = {"kind": "detection", "loss": f"{DEMO}:detection_loss_fn", "train_forward": "forward_raw",
             "labels": ["vehicle", "pedestrian", "traffic_sign"]}


def _recipe(tmp_path: Path, **changes: object) -> Path:
    """The demo detector's factories, small data (nothing here trains)."""
    data: dict[str, object] = {
        "name": "t", "output_dir": "out", "model": {"factory": f"{DEMO}:build_detector", "train_steps": 1},
        "data": {"train": f"{DEMO}:train_batches", "train_kwargs": {"batch_size": 2, "workers": 0},
                 "eval": f"{DEMO}:eval_batches", "eval_kwargs": {"num_images": 2}},
        "task": DEMO_TASK, "input_shape": [1, 3, 320, 320], "steps": [{"kind": "prune_structured", "ratio": 0.5}]}
    data.update(changes)
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


@pytest.mark.parametrize(("steps", "match"), [
    ([{"kind": "magic"}], r"steps\[0\]\.kind: unknown step 'magic'"),
    ([{"kind": "prune_unstructured", "sparsity": 1.0}], r"sparsity: must be in \(0, 1\)"),
    ([{"kind": "prune_unstructured", "sparsity": 0.0}], r"sparsity: must be in \(0, 1\)"),
    ([{"kind": "prune_structured", "ratio": 0.5, "round_to": 12}], r"round_to: must be 1, 8 or 16"),
    ([{"kind": "qat", "stepz": 3}], r"steps\[0\]\.stepz: unknown key"),
    ([{"kind": "qat", "from": "nowhere"}], r"steps\[0\]\.from: names unknown variant 'nowhere'"),
    ([], r"steps: the recipe has no steps"),
])
def test_bad_steps_are_refused_when_read(tmp_path: Path, steps: list[dict[str, object]], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        load_recipe(_recipe(tmp_path, steps=steps))


def test_unknown_top_level_key_and_bad_yaml(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="modle: unknown top-level key"):
        load_recipe(_recipe(tmp_path, modle={}))
    with pytest.raises(ConfigError, match=r"data.eval: must name an object as 'package.module:attribute'"):
        load_recipe(_recipe(tmp_path, data={"train": f"{DEMO}:train_batches"}))
    with pytest.raises(ConfigError, match=r"input_shape: must be a list of positive sizes"):
        load_recipe(_recipe(tmp_path, input_shape=[1, 3, 0, 320]))
    bad = tmp_path / "bad.yaml"
    bad.write_text("steps: [unclosed", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_recipe(bad)


@pytest.mark.parametrize(("step", "match"), [
    ({"kind": "prune_unstructured", "sparsity": 0.5, "layers": ["stem.conv", "backbone.nope"]},
     r"steps\[0\]\.layers: no Conv2d/Linear layer named \['backbone.nope'\]"),
    ({"kind": "prune_structured", "ratio": 0.5, "ignore": ["head.nope"]}, r"steps\[0\]\.ignore: no layer named"),
    ({"kind": "distill", "feature_layers": [["smooth3", "nope"]]}, r"steps\[0\]\.distill.feature_layers: no layer"),
])
def test_missing_layer_names_fail_before_training(tmp_path: Path, step: dict[str, object], match: str) -> None:
    recipe = load_recipe(_recipe(tmp_path, steps=[step]))
    with pytest.raises(ConfigError, match=match):
        check_recipe(recipe, tmp_path)


def test_data_not_matching_the_model_input_fails_before_training(tmp_path: Path) -> None:
    recipe = load_recipe(_recipe(tmp_path, input_shape=[1, 3, 256, 256]))
    with pytest.raises(ConfigError, match=r"data.train: gives inputs of shape \[2, 3, 320, 320\], the recipe's "
                                          r"input_shape is \[1, 3, 256, 256\]"):
        run_recipe(recipe, base_dir=tmp_path, progress=False)
    assert not (tmp_path / "out").exists()
    assert not list(tmp_path.glob(".out.partial-*"))  # the staging folder is gone too


def test_shipped_demo_recipe_parses_and_chains_variants() -> None:
    recipe = load_recipe(REPO / "config" / "compress_demo.yaml")
    chain = {step.name: source for step, source in recipe.variant_sources()}
    assert chain == {"sparse50": "baseline", "pruned40": "baseline", "pruned40_kd": "pruned40",
                     "qat_int8": "baseline", "ptq_int8": "baseline"}


def test_shipped_demo_recipe_checks_against_its_factories() -> None:
    """--check on the shipped recipe: factories import, the shipped weights fit, pruning dry-runs."""
    recipe = load_recipe(REPO / "config" / "compress_demo.yaml")
    objects = check_recipe(recipe, REPO / "config")
    assert type(objects.model).__name__ == "Detector" and objects.task.metric_name == "mAP@0.5"


def test_recipe_of_the_shipped_compressed_detector_is_the_one_it_records() -> None:
    """config/compress_demo_serving.yaml made edge_ai_ros/assets/demo_detector_int8: same bytes, same chain."""
    import json

    from edge_ai_ros.atomic_io import file_sha256

    path = REPO / "config" / "compress_demo_serving.yaml"
    recipe = load_recipe(path)
    chain = {step.name: source for step, source in recipe.variant_sources()}
    assert chain == {"pruned40": "baseline", "pruned40_kd": "pruned40", "pruned40_kd_qat": "pruned40_kd"}
    provenance = json.loads((REPO / "edge_ai_ros" / "assets" / "demo_detector_int8" / "provenance.json").read_text())
    assert provenance["recipe"]["sha256"] == file_sha256(path)
    assert provenance["lineage"] == ["baseline", *chain]


def test_distill_teacher_must_exist_before_the_step(tmp_path: Path) -> None:
    data = yaml.safe_load(_recipe(tmp_path).read_text(encoding="utf-8"))
    data.update(teacher={"variant": "later"}, steps=[{"kind": "distill"}, {"kind": "qat", "name": "later"}])
    with pytest.raises(ConfigError, match="teacher.variant"):
        recipe_from_dict(data, base_dir=Path("."))


def test_shipped_classifier_recipe_checks_against_its_factories() -> None:
    recipe = load_recipe(REPO / "config" / "compress_classifier.yaml")
    objects = check_recipe(recipe, REPO / "config")
    assert type(objects.model).__name__ == "SmallResNet" and objects.task.metric_name == "top-1"
    assert [s.kind for s in recipe.steps] == ["prune_structured", "distill", "qat", "ptq"]
