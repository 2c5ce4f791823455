"""The report: markdown with every measured number, JSON, and the accuracy-vs-latency plot."""

from __future__ import annotations

import json
from pathlib import Path

from PIL import Image

from edge_ai_ros.compression.measure import VariantMeasurement
from edge_ai_ros.compression.report import UNSTRUCTURED_NOTE, write_report


def _row(name: str, step: str, ms: float, metric: float) -> VariantMeasurement:
    return VariantMeasurement(name=name, step=step, source="baseline", precision="fp32", params=1000, macs=2_000_000,
                              sparsity=0.5 if step == "prune_unstructured" else 0.0, file_bytes=4096,
                              compressed_bytes=2048, metric=metric, latency_ms={"onnxruntime": ms, "openvino": ms / 2})


def test_report_has_table_speedups_note_json_and_plots(tmp_path: Path) -> None:
    rows = [_row("baseline", "baseline", 4.0, 0.8), _row("sparse", "prune_unstructured", 4.0, 0.79),
            _row("pruned", "prune_structured", 2.0, 0.78)]
    report = write_report(rows, tmp_path, title="t", backends=("onnxruntime", "openvino"))
    text = report.read_text(encoding="utf-8")
    assert "| pruned | prune_structured | 1,000 | 2.0 | 0.00 | 4 | 2 | 78.00 | 2.00 | 1.00 | 2.00x | 2.00x |" in text
    assert UNSTRUCTURED_NOTE in text
    assert json.loads((tmp_path / "report.json").read_text())[2]["latency_ms"] == {"onnxruntime": 2.0, "openvino": 1.0}
    with Image.open(tmp_path / "accuracy_vs_latency.png") as image:
        assert image.size[0] > 300
    assert (tmp_path / "size.png").stat().st_size > 1000
