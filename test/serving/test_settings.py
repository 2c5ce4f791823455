"""The node's parameters are defined once; the documented YAML and the table are generated from it."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import yaml

from edge_ai_ros.cli.main import main
from edge_ai_ros.errors import ConfigError
from edge_ai_ros.serving.settings import NodeSettings, parameters, spec_of
from edge_ai_ros.serving.settings_docs import render_markdown, render_yaml

ROOT = Path(__file__).resolve().parents[2]
REGENERATE = "regenerate with: edge-ai-ros params --yaml --out config/perception.yaml; " \
             "edge-ai-ros params --markdown --out docs/parameters.md"


def test_checked_in_params_file_is_the_generated_one() -> None:
    assert (ROOT / "config" / "perception.yaml").read_text(encoding="utf-8") == render_yaml(), REGENERATE


def test_checked_in_parameter_table_is_the_generated_one() -> None:
    assert (ROOT / "docs" / "parameters.md").read_text(encoding="utf-8") == render_markdown(), REGENERATE


def test_every_settings_field_is_a_documented_parameter() -> None:
    names = [item.name for item in dataclasses.fields(NodeSettings)]
    assert [name for name, _, _ in parameters()] == names
    assert all(spec_of(item).description for item in dataclasses.fields(NodeSettings))
    table = render_markdown()
    assert all(f"| `{name}` |" in table for name in names)


def test_the_yaml_sets_every_parameter_to_its_default() -> None:
    values = yaml.safe_load(render_yaml())["/**"]["ros__parameters"]
    defaults = {name: default for name, default, spec in parameters() if not spec.yaml_example}
    assert values == defaults
    assert "# model_manifest: /path/to/model.onnx.manifest.json" in render_yaml()


@pytest.mark.parametrize(("change", "field"), [
    ({"backend": "tflite"}, "backend"), ({"drop_policy": "oldest"}, "drop_policy"),
    ({"threads": 65}, "threads"), ({"score_threshold": 1.5}, "score_threshold"),
    ({"rollback_window_s": 0.1}, "rollback_window_s"),
])
def test_settings_refuse_values_outside_the_definition(change: dict[str, object], field: str) -> None:
    with pytest.raises(ConfigError, match=field):
        NodeSettings(**change)  # type: ignore[arg-type]


def test_cli_writes_the_same_text(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["params", "--yaml"]) == 0 and capsys.readouterr().out == render_yaml()
    assert main(["params", "--markdown", "--out", str(tmp_path / "p.md")]) == 0
    assert (tmp_path / "p.md").read_text(encoding="utf-8") == render_markdown()
