# ruff: noqa: F811  (pytest fixtures imported from compiler_models are redefined as parameters)
"""Engines record the CPU they were built and gated on; one needing features this host lacks is
rebuilt by the compiler and refused by the loader. INT8 gets this host's format."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from compiler_models import classifier_onnx, image_folder, write_scene_folder  # noqa: F401 - pytest fixtures
from onnx import numpy_helper

from edge_ai_ros.compiler.build import BuildOptions, build_engine
from edge_ai_ros.compiler.calibration_data import CalibrationConfig
from edge_ai_ros.compression.export_step import ScoreAgreement
from edge_ai_ros.demo.export import check_frame
from edge_ai_ros.engines.registry import load_engine
from edge_ai_ros.errors import ManifestError
from edge_ai_ros.host import CAPABILITY_FLAGS, host_features
from edge_ai_ros.int8_format import int8_format_for, required_capabilities
from edge_ai_ros.manifest import manifest_path_for

DEMO_ONNX = Path(__file__).resolve().parents[2] / "edge_ai_ros/assets/demo_detector/detector.onnx"


def _edit_host(manifest_file: Path, **changes: object) -> None:
    data = json.loads(manifest_file.read_text())
    data["host"] = {**data["host"], **changes}
    manifest_file.write_text(json.dumps(data))


def test_int8_build_uses_this_hosts_format_and_runs_exactly_here(tmp_path: Path) -> None:
    """The demo detector's PTQ INT8 engine: weights in this host's range, the fused INT8 kernels
    agree with the QDQ reference semantics (saturation would move a large share of scores),
    and the accuracy gate against FP32 passed here."""
    fmt = int8_format_for("onnxruntime")
    calib = write_scene_folder(tmp_path / "calib", 12, width=640, height=480)
    result = build_engine(BuildOptions(onnx_path=str(DEMO_ONNX), precision="int8", backend="onnxruntime",
                                       cache_dir=str(tmp_path / "cache"),
                                       calibration=CalibrationConfig(source=str(calib))))
    host = result.manifest.host
    assert host is not None and host["int8_format"]["weight_qmax"] == fmt.weight_qmax
    assert host["requires"] == list(required_capabilities(fmt)) and host["cpu_flags"] == host_features().sorted_flags()
    assert result.manifest.accuracy is not None and result.manifest.accuracy["passed"]
    weights = [numpy_helper.to_array(i) for i in onnx.load(str(result.engine_path)).graph.initializer
               if i.data_type == onnx.TensorProto.INT8 and i.dims]
    assert weights and max(int(np.abs(w.astype(np.int16)).max()) for w in weights) <= fmt.weight_qmax
    reference = ort.SessionOptions()
    reference.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    outputs = [ort.InferenceSession(str(result.engine_path), opts, providers=["CPUExecutionProvider"])
               .run(None, {"images": check_frame()})[0] for opts in (reference, ort.SessionOptions())]
    agreement = ScoreAgreement.between(outputs[1], outputs[0])
    assert agreement.passed, agreement.summary()


def test_cached_engine_built_for_other_cpu_features_is_rebuilt_and_refused_on_load(
    classifier_onnx: Path, image_folder: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture,
) -> None:
    options = BuildOptions(onnx_path=str(classifier_onnx), precision="fp32", backend="onnxruntime",
                           cache_dir=str(tmp_path / "cache"), calibration=CalibrationConfig(source=str(image_folder)))
    first = build_engine(options)
    assert first.manifest.host is not None and first.manifest.host["requires"] == []
    lacking = sorted(set(CAPABILITY_FLAGS) - host_features().capabilities())
    edits: list[dict[str, object]] = [{"machine": "riscv64"}]
    if lacking:  # a host with every capability has nothing to lack: the machine edit still runs
        edits.append({"requires": lacking[:1]})
    for edit in edits:
        _edit_host(first.manifest_path, **edit)
        field = "host.machine" if "machine" in edit else f"host.requires: .*{lacking[0]}"
        with pytest.raises(ManifestError, match=field):
            load_engine(first.engine_path)
        caplog.clear()
        caplog.set_level("WARNING")
        again = build_engine(options)
        assert not again.cache_hit and again.cache_key == first.cache_key
        assert "unusable and will be rebuilt" in caplog.text and field.split(":")[0] in caplog.text
        assert again.manifest.host == first.manifest.host  # rebuilt for this host
        load_engine(again.engine_path).close()
        assert manifest_path_for(again.engine_path) == first.manifest_path
