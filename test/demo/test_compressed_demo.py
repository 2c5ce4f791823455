"""The shipped compressed demo detector: its files, its INT8 graph, its detections, its compile.

Real ONNX Runtime and the real demo bag; no ROS. The asset tests need the shipped folder
(``scripts/ship_compressed_demo.py`` writes it from a compression run) and skip, saying so,
where a checkout does not have it yet.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest

from edge_ai_ros.demo import compressed, ship
from edge_ai_ros.demo import side_by_side as sbs
from edge_ai_ros.demo.run_report import FrameOutcome, GroundTruthSet, load_ground_truth, score_map
from edge_ai_ros.errors import ConfigError
from edge_ai_ros.manifest import load_manifest, verify_artifact
from edge_ai_ros.manifest_schema import validate_manifest_data

BAG = compressed.ASSETS / "demo_bag"
TOPIC = "/camera/image_raw/compressed"
# INT8 against the FP32 model it was quantized from, on the demo bag frames: mAP@0.5 of the INT8
# detections with the FP32 detections as ground truth, and the mAP against the bag's truth
MIN_AGREEMENT = 0.80
MAX_BAG_MAP_GAP = 0.05

needs_asset = pytest.mark.skipif(not compressed.int8_shipped(),
                                 reason="no compressed demo detector shipped (scripts/ship_compressed_demo.py)")


@pytest.fixture(scope="module")
def bag_frames() -> list[tuple[int, np.ndarray]]:
    return sbs.bag_frames(BAG, TOPIC)


@needs_asset
def test_shipped_int8_manifest_validates_and_records_its_provenance() -> None:
    manifest_file = compressed.INT8_MANIFEST
    validate_manifest_data(json.loads(manifest_file.read_text()))
    manifest = load_manifest(manifest_file)
    assert verify_artifact(manifest, manifest_file) == compressed.INT8_ONNX
    assert manifest.precision == "int8" and manifest.task == "detection"
    assert manifest.host is not None and manifest.host["int8_format"]["weight_qmax"] == 64
    assert manifest.host["int8_format"]["activation"] == "u8" and manifest.host["requires"] == []
    build = manifest.build
    assert build["parameters"] > 0 and (compressed.INT8_DIR / build["weights"]).stat().st_size > 0
    comp = build["compression"]
    assert comp["step"] == "qat" and comp["from"] and comp["recipe"]["name"].endswith((".yaml", ".yml"))
    assert len(comp["recipe"]["sha256"]) == 64
    provenance = json.loads((compressed.INT8_DIR / ship.PROVENANCE_NAME).read_text())
    assert provenance["recipe"]["sha256"] == comp["recipe"]["sha256"] and provenance["lineage"][-1] == comp["variant"]
    reference = load_manifest(compressed.INT8_REFERENCE.parent / f"{ship.ONNX_NAME}.manifest.json")
    assert reference.precision == "fp32" and reference.build["compression"]["variant"] == comp["from"]
    assert reference.build["parameters"] == build["parameters"]  # QAT keeps the pruned architecture


@needs_asset
def test_shipped_int8_graph_is_quantized_with_7_bit_weights() -> None:
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(compressed.INT8_ONNX))
    ops = [n.op_type for n in model.graph.node]
    assert ops.count("QuantizeLinear") > 10 and ops.count("DequantizeLinear") > 10
    int8_weights = [numpy_helper.to_array(t) for t in model.graph.initializer if t.data_type == onnx.TensorProto.INT8]
    assert int8_weights, "no int8 initializers"
    assert max(int(np.abs(w.astype(np.int32)).max()) for w in int8_weights) <= 64  # exact on x86 without VNNI


def _detections(manifest: Path, frames: list[tuple[int, np.ndarray]]) -> list[FrameOutcome]:
    from edge_ai_ros.pipeline import Perception

    with Perception(manifest, backend="onnxruntime") as model:
        return [FrameOutcome(index=i, bag_time_ns=0, latency_s=None, detections=model.run(image).detections)
                for i, image in frames]


@needs_asset
def test_int8_detections_match_the_fp32_pruned_model_on_the_bag(bag_frames: list[tuple[int, np.ndarray]]) -> None:
    fp32 = _detections(compressed.INT8_REFERENCE.parent / f"{ship.ONNX_NAME}.manifest.json", bag_frames)
    int8 = _detections(compressed.INT8_MANIFEST, bag_frames)
    as_truth = GroundTruthSet(labels=load_manifest(compressed.INT8_MANIFEST).labels, frames={
        o.index: (np.asarray([d.box for d in o.detections or ()], np.float64).reshape(-1, 4),
                  np.asarray([d.class_id for d in o.detections or ()], np.int64)) for o in fp32})
    assert score_map(int8, as_truth)["map"] >= MIN_AGREEMENT
    truth = load_ground_truth(BAG / "ground_truth.json")
    assert abs(score_map(int8, truth)["map"] - score_map(fp32, truth)["map"]) <= MAX_BAG_MAP_GAP


@needs_asset
def test_second_compile_is_a_cache_hit_and_the_gate_compares_with_fp32(tmp_path: Path) -> None:
    from edge_ai_ros.cli.demo_models import compile_int8

    first = compile_int8(bag=BAG, backend="onnxruntime", cache_dir=tmp_path, max_drop=100.0)
    second = compile_int8(bag=BAG, backend="onnxruntime", cache_dir=tmp_path, max_drop=100.0)
    assert not first.cache_hit and second.cache_hit and second.cache_key == first.cache_key
    assert "cache hit" in second.describe() and "built" in first.describe()
    manifest = load_manifest(second.manifest)
    assert manifest.precision == "int8" and manifest.accuracy is not None and manifest.accuracy["samples"] == 25
    flags = manifest.build["key_inputs"]["flags"]
    assert flags["gate_reference_sha256"] == ship.file_sha256(compressed.INT8_REFERENCE)
    # the QAT graph against itself would agree exactly; against its FP32 parent it does not have to
    assert first.gate is not None and first.gate["candidate"] < 100.0


def test_compile_refuses_a_missing_gate_reference(tmp_path: Path) -> None:
    from edge_ai_ros.compiler.build import BuildOptions, build_engine
    from edge_ai_ros.compiler.calibration_data import CalibrationConfig

    onnx = compressed.FP32_MANIFEST.parent / "detector.onnx"
    options = BuildOptions(onnx_path=str(onnx), precision="fp32", backend="onnxruntime", cache_dir=str(tmp_path),
                           calibration=CalibrationConfig(source=str(BAG), topic=TOPIC, max_samples=8),
                           reference_onnx=str(tmp_path / "absent.onnx"))
    with pytest.raises(ConfigError, match="reference_onnx"):
        build_engine(options)


def _fake_run(tmp_path: Path, rows: list[dict[str, object]]) -> Path:
    run = tmp_path / "run"
    run.mkdir()
    (run / "report.json").write_text(json.dumps(rows))
    return run


def _row(name: str, source: str, precision: str) -> dict[str, object]:
    """A report row as `edge-ai-ros compress` writes it (its own dataclass, so a format change shows here)."""
    from edge_ai_ros.compression.measure import VariantMeasurement

    return asdict(VariantMeasurement(name=name, step="x", source=source, precision=precision, params=10, macs=20,
                                     sparsity=0.0, file_bytes=1, compressed_bytes=1, metric=0.5))


def test_ship_refuses_a_variant_that_is_not_int8(tmp_path: Path) -> None:
    run = _fake_run(tmp_path, [_row("baseline", "baseline", "fp32"), _row("pruned", "baseline", "fp32")])
    recipe = tmp_path / "r.yaml"
    recipe.write_text("name: r\n")
    with pytest.raises(ConfigError, match="ship a QAT variant"):
        ship.ship(run, "pruned", recipe, tmp_path / "dest")
    with pytest.raises(ConfigError, match="not in"):
        ship.ship(run, "absent", recipe, tmp_path / "dest")


@needs_asset
def test_ship_writes_validated_manifests_and_the_recipe(tmp_path: Path) -> None:
    run = _fake_run(tmp_path, [_row("baseline", "baseline", "fp32"), _row("kd", "baseline", "fp32"),
                               _row("kd_qat", "kd", "int8")])
    for name, folder in (("kd", compressed.INT8_REFERENCE.parent), ("kd_qat", compressed.INT8_DIR)):
        (run / name).mkdir()
        shutil.copyfile(folder / ship.ONNX_NAME, run / name / "model.onnx")
        shutil.copyfile(folder / ship.WEIGHTS_NAME, run / name / "model.safetensors")
        shutil.copyfile(folder / f"{ship.ONNX_NAME}.manifest.json", run / name / "model.onnx.manifest.json")
    recipe = tmp_path / "serving.yaml"
    recipe.write_text("name: r\nseed: 3\noutput_dir: /elsewhere/out\ndata:\n  eval_kwargs: {num_images: 7, seed: 2}\n")
    manifest = load_manifest(ship.ship(run, "kd_qat", recipe, tmp_path / "dest"))
    assert manifest.build["compression"]["recipe"] == {"name": "serving.yaml", "sha256": ship.file_sha256(recipe)}
    assert manifest.build["parameters"] == 10 and manifest.accuracy is not None
    assert manifest.accuracy["eval_images"] == 7 and manifest.accuracy["eval_seed"] == 2
    assert manifest.accuracy["map"] == 0.5 and manifest.model_id.startswith("demo_detector_int8-")
    provenance = json.loads((tmp_path / "dest" / ship.PROVENANCE_NAME).read_text())
    assert provenance["recipe"]["content"]["output_dir"] == "out"  # no machine paths in shipped files
    assert provenance["lineage"] == ["baseline", "kd", "kd_qat"] and provenance["fp32_reference"] == "kd"
    verify_artifact(load_manifest(tmp_path / "dest" / ship.REFERENCE_FOLDER / "detector.onnx.manifest.json"),
                    tmp_path / "dest" / ship.REFERENCE_FOLDER / "detector.onnx.manifest.json")


def test_side_by_side_table_has_both_columns_and_says_where_numbers_come_from() -> None:
    facts = [compressed.ModelFacts.of("fp32", compressed.FP32_MANIFEST)]
    facts.append(compressed.ModelFacts(label="int8", model_id="m8", manifest=Path("x"), precision="int8",
                                       size_bytes=200_000, parameters=1234, heldout_map50=0.7))
    passes = {"fp32": sbs.PassResult(frames=4, map50=0.75, engine_ms_p50=3.0),
              "int8": sbs.PassResult(frames=4, map50=0.74, engine_ms_p50=1.5)}
    columns = sbs.build_columns(facts, passes, served="int8", live_map50=0.73, node_engine_ms=1.4)
    table = sbs.to_markdown(sbs.SideBySide(backend="onnxruntime", frames=4, columns=columns, compile="built",
                                           note="n", load_average=(1.0, 2.0)))
    assert "| | FP32 | INT8 (served) |" in table
    assert "| parameters (manifest) | 424,980 | 1,234 |" in table
    assert "| mAP@0.5 on the bag, live (node's answers) | - | 0.730 |" in table
    assert "| engine ms/frame, median, in-process interleaved | 3.00 | 1.50 |" in table
    assert "load average 1.00 -> 2.00" in table


@needs_asset
def test_a_ship_that_fails_halfway_leaves_the_shipped_folder_as_it_was(tmp_path: Path) -> None:
    run = _fake_run(tmp_path, [_row("baseline", "baseline", "fp32"), _row("kd", "baseline", "fp32"),
                               _row("kd_qat", "kd", "int8")])
    (run / "kd_qat").mkdir()
    for name in (ship.ONNX_NAME, ship.WEIGHTS_NAME, f"{ship.ONNX_NAME}.manifest.json"):
        shutil.copyfile(compressed.INT8_DIR / name, run / "kd_qat" / name.replace("detector", "model"))
    # the FP32 parent's files are missing: the second half of the ship fails
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / "keep.txt").write_text("the shipped model")
    recipe = tmp_path / "serving.yaml"
    recipe.write_text("name: r\n")
    with pytest.raises(FileNotFoundError):
        ship.ship(run, "kd_qat", recipe, dest)
    assert sorted(p.name for p in dest.iterdir()) == ["keep.txt"]


def test_ship_refuses_a_variant_without_a_detection_metric(tmp_path: Path) -> None:
    rows = [_row("baseline", "baseline", "fp32"), _row("kd", "baseline", "fp32"), _row("kd_qat", "kd", "int8")]
    rows[2]["metric_name"] = "top-1"
    recipe = tmp_path / "r.yaml"
    recipe.write_text("name: r\n")
    with pytest.raises(ConfigError, match="no mAP@0.5"):
        ship.ship(_fake_run(tmp_path, rows), "kd_qat", recipe, tmp_path / "dest")
