"""``auto`` by measurement: timed on this host, gated on outputs, cached, and off on request."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tiny_models import classifier, identity_conv, write_manifest

from edge_ai_ros.compiler.build import BuildOptions, build_engine
from edge_ai_ros.engines import auto_select
from edge_ai_ros.engines.options import EngineOptions
from edge_ai_ros.engines.registry import CPU_PREFERENCE, available_backends, create_engine, load_engine
from edge_ai_ros.errors import ConfigError
from edge_ai_ros.host import cpu_device_string
from edge_ai_ros.manifest import DecoderSpec, PreprocessSpec

BOTH = ("onnxruntime", "openvino")
pytestmark = pytest.mark.skipif(not set(BOTH) <= set(available_backends()), reason="needs both CPU backends")


def _choices(folder: Path) -> list[Path]:
    return sorted((folder / "backend_choice").glob("*.json"))


def test_measured_choice_is_cached_and_reused(tmp_path: Path) -> None:
    model = identity_conv(tmp_path / "m.onnx")
    options = EngineOptions(threads=1, auto_budget_s=0.2, choice_cache_dir=str(tmp_path / "cache"))
    engine = load_engine(model, options=options)
    reason = engine.info.details["backend_choice"]
    engine.close()
    [stored] = _choices(tmp_path / "cache")
    choice = auto_select.MeasuredChoice.from_dict(json.loads(stored.read_text()))
    assert engine.info.backend == choice.backend and set(choice.order) == set(BOTH)
    assert choice.median_ms[choice.backend] == min(choice.median_ms.values()) and choice.runs >= 3
    assert reason.startswith(f"{choice.backend} is the fastest measured on this host") and "cached" not in reason

    # a second load reads the file instead of measuring: make it name the other backend and see it followed
    other = next(b for b in BOTH if b != choice.backend)
    stored.write_text(json.dumps(choice.to_dict() | {"backend": other, "order": [other, choice.backend]}))
    again = load_engine(model, options=options)
    assert again.info.backend == other and again.info.details["backend_choice"].endswith("cached]")
    again.close()
    assert _choices(tmp_path / "cache") == [stored]


def test_measuring_off_takes_the_fixed_order_and_writes_nothing(tmp_path: Path) -> None:
    options = EngineOptions(threads=1, auto_select="table", choice_cache_dir=str(tmp_path / "cache"))
    engine = load_engine(identity_conv(tmp_path / "m.onnx"), options=options)
    assert engine.info.backend == CPU_PREFERENCE["fp32"][0]
    assert "fixed CPU order" in engine.info.details["backend_choice"]
    engine.close()
    assert not (tmp_path / "cache").exists()


def test_a_candidate_whose_outputs_disagree_is_not_chosen(tmp_path: Path) -> None:
    """The gate: openvino is handed a different model here, so its outputs differ from the reference."""
    right, wrong = classifier(tmp_path / "right.onnx"), identity_conv(tmp_path / "wrong.onnx", height=16, width=16)
    models = {"onnxruntime": right, "openvino": wrong}
    choice = auto_select.measure(
        BOTH, lambda name: create_engine(name, models[name], EngineOptions(threads=1), precision="fp32", reason="t"),
        reference="onnxruntime", precision="fp32", budget_s=0.1)
    assert choice.backend == "onnxruntime" and choice.order == ("onnxruntime",)
    assert "openvino" in choice.rejected


def test_auto_select_options_are_validated() -> None:
    with pytest.raises(ConfigError, match="auto_select: 'fastest'"):
        EngineOptions(auto_select="fastest")
    with pytest.raises(ConfigError, match="auto_budget_s"):
        EngineOptions(auto_budget_s=0.0)


def test_compile_with_auto_builds_each_cpu_backend_keeps_the_fastest_and_remembers(tmp_path: Path) -> None:
    model = classifier(tmp_path / "c.onnx")
    write_manifest(model, task="classification", labels=("r", "g", "b"), decoder=DecoderSpec(kind="classification"),
                   preprocess=PreprocessSpec(width=16, height=16))
    options = BuildOptions(onnx_path=str(model), precision="fp32", backend="auto", cache_dir=str(tmp_path / "engines"),
                           out_dir=str(tmp_path / "out"))
    result = build_engine(options)
    timed = result.manifest.build["auto_compile"]
    assert set(timed["median_ms"]) == {"openvino/openvino", "onnxruntime/onnxruntime", "onnxruntime/openvino"}
    fastest = min(timed["median_ms"], key=timed["median_ms"].get)
    assert result.manifest.backend == timed["builder"] == fastest.split("/")[0]
    serving = auto_select.MeasuredChoice.from_dict(result.manifest.build["auto_choice"])
    assert serving.backend == fastest.split("/")[1] and serving.device == cpu_device_string()
    assert result.engine_path.parent == tmp_path / "out"  # only the chosen engine is delivered
    assert len(list((tmp_path / "out").glob("*.manifest.json"))) == 1

    # the loader serves it with the measured backend, without measuring again
    engine = load_engine(result.engine_path, options=EngineOptions(threads=1, choice_cache_dir=str(tmp_path / "cache")))
    assert engine.info.backend == serving.backend
    assert "measured when compiled" in engine.info.details["backend_choice"] or serving.order == (serving.backend,)
    engine.close()
    assert not (tmp_path / "cache").exists()

    # the next auto compile on this CPU returns the same entry: no build, no measurement
    stages: list[str] = []
    again = build_engine(options, progress=lambda stage, fraction, detail: stages.append(stage))
    assert again.cache_hit and again.cache_key == result.cache_key and "building" not in stages
    assert again.manifest.build["auto_compile"] == timed
