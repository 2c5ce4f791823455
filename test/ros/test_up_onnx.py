"""``edge-ai-ros up --model X.onnx``: inspected, compiled once (cached), served; ambiguous models refused."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("rclpy")
pytest.importorskip("edge_ai_ros.msg", reason="the project's interfaces are not built in this environment")

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "test" / "decoders"))

from image_bags import write_image_bag  # noqa: E402
from layout_models import CLASSES, LAYOUT_BUILDERS, GraphBuilder, build  # noqa: E402

from edge_ai_ros.errors import ManifestError  # noqa: E402
from edge_ai_ros.inspection.serve_model import manifest_for_serving  # noqa: E402
from edge_ai_ros.manifest import load_manifest, manifest_path_for  # noqa: E402

METADATA = {"author": "Ultralytics", "names": str(dict(enumerate(CLASSES))), "imgsz": "[64, 64]", "task": "detect"}


def _yolov8(path: Path) -> Path:
    g = GraphBuilder()
    LAYOUT_BUILDERS["yolov8"](g)
    return g.save(path, METADATA)


def test_onnx_is_inspected_compiled_once_and_a_manifest_passes_through(tmp_path: Path) -> None:
    model = _yolov8(tmp_path / "yolov8n.onnx")
    cache = str(tmp_path / "cache")
    first = manifest_for_serving(str(model), backend="onnxruntime", cache_dir=cache)
    built = load_manifest(first)
    assert built.decoder.layout == "yolov8" and built.labels == CLASSES and built.backend == "onnxruntime"
    assert manifest_path_for(model).is_file()  # the inspected manifest, editable by the user
    again = manifest_for_serving(str(model), backend="onnxruntime", cache_dir=cache)
    assert again == first and load_manifest(again).build["built_at"] == built.build["built_at"]
    assert manifest_for_serving(first) == first


def test_ambiguous_onnx_is_refused_with_the_inspect_flag(tmp_path: Path) -> None:
    model = build("yolox", tmp_path / "yolox.onnx")
    with pytest.raises(ManifestError, match="--layout"):
        manifest_for_serving(str(model), backend="onnxruntime", cache_dir=str(tmp_path / "cache"))


def test_up_serves_an_onnx_file(tmp_path: Path) -> None:
    model = _yolov8(tmp_path / "yolov8n.onnx")
    bag = write_image_bag(tmp_path / "bag", frames=6, hz=50.0)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run([sys.executable, "-m", "edge_ai_ros.cli.main", "up", "--bag", str(bag), "--model", str(model),
                           "--backend", "onnxruntime", "--exit-on-end", "--namespace", "onnx"],
                          capture_output=True, text=True, env=env, timeout=120, check=False, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert re.search(r"frames in\s+6\b", proc.stdout), proc.stdout[-2000:]
    assert (tmp_path / ".cache" / "engines").is_dir()


def test_launch_model_argument_takes_an_onnx_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location("perception_launch_onnx", ROOT / "launch" / "perception.launch.py")
    assert spec is not None and spec.loader is not None
    launch = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(launch)
    monkeypatch.chdir(tmp_path)  # the engine cache lands in ./.cache/engines
    model = _yolov8(tmp_path / "yolov8n.onnx")
    manifest = launch.serving_model(str(model), "onnxruntime")
    assert manifest.endswith(".manifest.json") and load_manifest(manifest).decoder.layout == "yolov8"
    assert launch.serving_model("", "onnxruntime") == ""
    assert launch.serving_model(manifest, "") == manifest
