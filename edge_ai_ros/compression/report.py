"""The compression report: a markdown table per variant plus PNG plots.

Every number comes from a measurement record (``measure.VariantMeasurement``): latency was
timed on each backend, never derived from MACs. The accuracy-vs-latency plot has one
marker per (variant, backend), so the trade-off of every step is visible at once.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

from edge_ai_ros.atomic_io import atomic_output_path, atomic_write_text
from edge_ai_ros.compression.measure import VariantMeasurement

UNSTRUCTURED_NOTE = (
    "Unstructured pruning zeroes individual weights: the dense file and the dense kernels stay the "
    "same size, so latency does not improve; only the compressed size (zip/OTA) shrinks."
)


def _fmt_ms(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"


def markdown_table(rows: Sequence[VariantMeasurement], backends: Sequence[str], baseline: str) -> str:
    base = next((r for r in rows if r.name == baseline), None)
    metric = rows[0].metric_name if rows else "metric"
    head = ["variant", "step", "params", "MACs (M)", "sparsity", "ONNX KB", "zipped KB", metric]
    head += [f"{b} ms" for b in backends]
    if base is not None:
        head += [f"{b} speed-up" for b in backends]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in rows:
        cells = [row.name, row.step, f"{row.params:,}", f"{row.macs / 1e6:.1f}", f"{row.sparsity:.2f}",
                 f"{row.file_bytes / 1024:.0f}", f"{row.compressed_bytes / 1024:.0f}",
                 "n/a" if row.metric is None else f"{100 * row.metric:.2f}"]
        cells += [_fmt_ms(row.latency_ms.get(b)) for b in backends]
        if base is not None:
            cells += [_speedup(base.latency_ms.get(b), row.latency_ms.get(b)) for b in backends]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _speedup(base: float | None, value: float | None) -> str:
    return "n/a" if not base or not value else f"{base / value:.2f}x"


def plot_accuracy_vs_latency(rows: Sequence[VariantMeasurement], backends: Sequence[str], path: Path) -> Path | None:
    """Scatter of the accuracy metric against latency, one marker style per backend; None if nothing to plot."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    points = [(r, b) for r in rows for b in backends if r.metric is not None and r.latency_ms.get(b)]
    if not points:
        return None
    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=110)
    for backend, marker in zip(backends, "os^Dv", strict=False):
        mine = [(r.latency_ms[backend], 100 * (r.metric or 0.0), r.name) for r, b in points if b == backend]
        ax.scatter([p[0] for p in mine], [p[1] for p in mine], marker=marker, label=backend)
        for x, y, name in mine:
            ax.annotate(name, (x, y), textcoords="offset points", xytext=(4, 3), fontsize=7)
    ax.set_xlabel("latency per image, ms (batch 1, CPU)")
    ax.set_ylabel(f"{rows[0].metric_name} (%)")
    ax.set_title("accuracy vs latency, every variant")
    ax.grid(True, alpha=0.3)
    ax.legend()
    fig.tight_layout()
    with atomic_output_path(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
    return path


def plot_size(rows: Sequence[VariantMeasurement], path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(9, 3.5), dpi=110)
    names = [r.name for r in rows]
    axes[0].bar(names, [r.macs / 1e6 for r in rows])
    axes[0].set_ylabel("MMACs")
    axes[1].bar(names, [r.file_bytes / 1024 for r in rows], label="ONNX")
    axes[1].bar(names, [r.compressed_bytes / 1024 for r in rows], label="zipped", alpha=0.7)
    axes[1].set_ylabel("KB")
    axes[1].legend()
    for ax in axes:
        ax.tick_params(axis="x", rotation=30, labelsize=7)
    fig.tight_layout()
    with atomic_output_path(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
    return path


def write_report(
    rows: Sequence[VariantMeasurement], out_dir: Path, *, title: str, backends: Sequence[str],
    baseline: str = "baseline", notes: Sequence[str] = (),
) -> Path:
    """Write report.md, report.json, accuracy_vs_latency.png and size.png into ``out_dir``."""
    acc_plot = plot_accuracy_vs_latency(rows, backends, out_dir / "accuracy_vs_latency.png")
    plot_size(rows, out_dir / "size.png")
    parts = [f"# {title}\n", markdown_table(rows, backends, baseline)]
    if any(r.step == "prune_unstructured" for r in rows):
        parts.append(f"\nNote: {UNSTRUCTURED_NOTE}\n")
    parts += [f"\n- {note}" for note in notes]
    if acc_plot is not None:
        parts.append("\n\n![accuracy vs latency](accuracy_vs_latency.png)\n")
    parts.append("\n![size](size.png)\n")
    atomic_write_text(out_dir / "report.json", json.dumps([asdict(r) for r in rows], indent=2) + "\n")
    return atomic_write_text(out_dir / "report.md", "".join(parts))
