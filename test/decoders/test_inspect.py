"""``edge-ai-ros inspect``: what it infers from metadata, labels and shapes; what it refuses."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from layout_models import CLASSES, LAYOUT_BUILDERS, GraphBuilder, Seg, build
from onnx import TensorProto

from edge_ai_ros.cli.main import main
from edge_ai_ros.errors import ManifestError
from edge_ai_ros.inspection.model import inspect_onnx, read_labels, write_manifest
from edge_ai_ros.manifest import load_manifest, manifest_path_for
from edge_ai_ros.pipeline import Perception

ULTRALYTICS = {"author": "Ultralytics", "names": str(dict(enumerate(CLASSES))), "stride": "32",
               "imgsz": "[64, 64]", "task": "detect", "description": "Ultralytics YOLOv8n model"}


def _model(layout: str, path: Path, metadata: dict[str, str] | None = None, **kw: object) -> Path:
    g = GraphBuilder(**kw)  # type: ignore[arg-type]
    LAYOUT_BUILDERS[layout](g)
    return g.save(path, metadata)


@pytest.fixture
def labels(tmp_path: Path) -> str:
    path = tmp_path / "labels.txt"
    path.write_text("\n".join(CLASSES) + "\n")
    return str(path)


def test_ultralytics_metadata_gives_labels_layout_and_task(tmp_path: Path) -> None:
    model = _model("yolov8", tmp_path / "yolov8n.onnx", ULTRALYTICS)
    found = inspect_onnx(model)
    assert (found.task, found.layout, found.labels) == ("detection", "yolov8", CLASSES)
    assert found.sources["labels"] == "metadata" and found.sources["layout"] == "metadata"
    pre = found.preprocess
    assert (pre.width, pre.height, pre.letterbox_position, pre.channel_order, pre.pad_value) == (
        64, 64, "center", "rgb", 114)
    assert pre.scale == pytest.approx(1 / 255)


@pytest.mark.parametrize(("name", "layout"), [
    ("yolov8", "yolov8"), ("yolov5", "yolov5"), ("yolov10", "yolov10"), ("rtdetr", "rtdetr"), ("ssd", "ssd"),
    ("onnx_nms", "onnx_nms"), ("efficient_nms", "efficient_nms"), ("yolov8_seg", "yolov8_seg"),
])
def test_layout_from_shapes_and_a_labels_file(name: str, layout: str, tmp_path: Path, labels: str) -> None:
    found = inspect_onnx(build(name, tmp_path / f"{name}.onnx"), labels_file=labels)
    assert (found.task, found.layout, found.labels) == ("detection", layout, CLASSES)
    assert found.sources["layout"] == "shapes"


def test_ambiguous_layout_lists_candidates_and_writes_nothing(tmp_path: Path, labels: str,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    model = build("yolox", tmp_path / "yolox.onnx")
    with pytest.raises(ManifestError, match=r"ambiguous: it could be yolox, yolox_raw.*--layout"):
        inspect_onnx(model, labels_file=labels)
    assert main(["inspect", str(model), "--labels", labels]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--layout" in err  # one clean line
    assert not manifest_path_for(model).exists()


def test_layout_flag_settles_it_with_the_yolox_preprocessing(tmp_path: Path, labels: str,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    model = build("yolox_raw", tmp_path / "yolox.onnx")
    assert main(["inspect", str(model), "--labels", labels, "--layout", "yolox_raw"]) == 0
    assert "layout:       yolox_raw (flag)" in capsys.readouterr().out
    manifest = load_manifest(manifest_path_for(model))
    pre = manifest.preprocess
    assert (manifest.decoder.layout, pre.letterbox_position, pre.channel_order, pre.scale) == (
        "yolox_raw", "top_left", "bgr", 1.0)
    assert manifest.artifact.path == "yolox.onnx" and manifest.labels == CLASSES


def test_without_labels_the_class_count_is_unknown_and_a_row_width_can_be_ambiguous(tmp_path: Path) -> None:
    with pytest.raises(ManifestError, match=r"yolov10, yolov5, rtdetr"):
        inspect_onnx(build("yolov10", tmp_path / "e2e.onnx"))


def test_yaml_labels_in_ultralytics_and_list_form(tmp_path: Path) -> None:
    (tmp_path / "data.yaml").write_text("path: coco\nnames:\n  0: car\n  1: person\n  2: sign\n")
    (tmp_path / "list.yml").write_text("- car\n- person\n")
    assert read_labels(tmp_path / "data.yaml") == CLASSES
    assert read_labels(tmp_path / "list.yml") == ("car", "person")
    (tmp_path / "bad.yaml").write_text("names: 3\n")
    with pytest.raises(ManifestError, match="holds no class names"):
        read_labels(tmp_path / "bad.yaml")


def test_dynamic_size_from_metadata_or_flag_and_float16_input(tmp_path: Path, labels: str) -> None:
    model = _model("yolov8", tmp_path / "dyn.onnx", {"imgsz": "[64, 64]"}, dynamic=True,
                   input_dtype=TensorProto.FLOAT16)
    found = inspect_onnx(model, labels_file=labels)
    assert found.dynamic_size and found.sources["size"] == "metadata" and found.inputs[0].dtype == "float16"
    assert any("float16" in line and "dynamic" in line for line in found.lines())
    manifest = write_manifest(found)
    with Perception(manifest, backend="onnxruntime") as perception:
        dets = perception.run(np.zeros((60, 96, 3), np.uint8)).detections
    assert len(dets) >= 3
    bare = _model("yolov8", tmp_path / "bare.onnx", dynamic=True)
    with pytest.raises(ManifestError, match="--imgsz"):
        inspect_onnx(bare, labels_file=labels)
    assert inspect_onnx(bare, labels_file=labels, imgsz=(64, 64)).sources["size"] == "flag"


def test_unsupported_and_broken_graphs_are_refused_and_nothing_is_written(tmp_path: Path) -> None:
    g = GraphBuilder()
    g.output("volume", [Seg(np.zeros((1, 2, 3, 4, 5), np.float32))], axis=1)  # rank 5: no layout reads it
    model = g.save(tmp_path / "volume.onnx")
    with pytest.raises(ManifestError, match="no supported layout"):
        inspect_onnx(model)
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"\x08\x01garbage")
    assert main(["inspect", str(broken)]) == 1
    assert not manifest_path_for(model).exists() and not manifest_path_for(broken).exists()


def test_ultralytics_rtdetr_is_told_apart_by_its_description_and_stretches_the_image(tmp_path: Path) -> None:
    metadata = {**ULTRALYTICS, "description": "Ultralytics RT-DETR-l model trained on coco.yaml"}
    found = inspect_onnx(_model("rtdetr", tmp_path / "rtdetr-l.onnx", metadata))
    assert (found.layout, found.labels, found.preprocess.letterbox) == ("rtdetr", CLASSES, False)


def test_metadata_task_contradicting_the_outputs_is_an_error(tmp_path: Path) -> None:
    model = _model("yolov8", tmp_path / "m.onnx", {**ULTRALYTICS, "task": "classify"})
    with pytest.raises(ManifestError, match="metadata says task 'classify'"):
        inspect_onnx(model)
