"""``edge-ai-ros demo`` (what ``make demo`` runs): the shipped bag through the shipped model.

By default the compressed demo detector (pruned, distilled, QAT INT8) is compiled through
the compiler (kept INT8, accuracy gate on held-out bag frames, cached: the second run is a
cache hit) and served; ``--model fp32`` serves the FP32 baseline. camera_source replays the
demo bag into inference_node over real rclpy topics, in one process (``edge-ai-ros up``'s
runner); a line a second shows frames, fps and latency; when the bag ends both models go
over the same bag frames in process (``demo/side_by_side.py``) and the demo writes a contact
sheet, summary.json and summary.md (served model, then FP32 vs INT8 side by side) and exits 0.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edge_ai_ros.cli.up import add_graph_arguments, describe, options_from_args
from edge_ai_ros.errors import EdgeAiError, one_line
from edge_ai_ros.ros.graph_spec import node_specs

if TYPE_CHECKING:
    from edge_ai_ros.cli.demo_models import CompiledModel
    from edge_ai_ros.demo.run_report import DemoSummary, GroundTruthSet
    from edge_ai_ros.demo.side_by_side import SideBySide

ASSETS = Path(__file__).resolve().parents[1] / "assets"
DEMO_BAG = ASSETS / "demo_bag"
GROUND_TRUTH_NAME = "ground_truth.json"
MODEL_HELP = ("int8: the compressed demo detector (structured-pruned + distilled + QAT INT8), compiled "
              "through the cached compiler (default where it is shipped); fp32: the FP32 baseline demo detector; "
              "or a model manifest / .onnx file as for 'edge-ai-ros up' (no side-by-side table then)")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_graph_arguments(parser, model_help=MODEL_HELP)
    parser.add_argument("--cache-dir", default=".cache/engines", help="engine cache for the compiled INT8 model")
    parser.add_argument("--max-drop", type=float, default=None, metavar="POINTS",
                        help="accuracy gate of the INT8 compile: largest allowed drop of its mAP@0.5 agreement "
                             "with the FP32 model it was quantized from (default 15)")
    parser.add_argument("--bag", default=str(DEMO_BAG), help="rosbag2 bag to replay (default: the shipped demo bag)")
    parser.add_argument("--out", default="out/demo", help="folder for contact_sheet.png and summary.json/.md")
    parser.add_argument("--sheet-frames", type=int, default=12, help="frames on the contact sheet")
    parser.add_argument("--ground-truth", default="",
                        help=f"ground-truth json for mAP@0.5 (default: <bag>/{GROUND_TRUTH_NAME} when present)")
    parser.add_argument("--quiet", action="store_true", help="no live line once a second")


def _prepare_models(args: argparse.Namespace) -> tuple[str, CompiledModel | None] | None:
    """Resolve --model: compile the INT8 demo model (cached), or point at the FP32 one; None for a user model."""
    from edge_ai_ros.cli import demo_models
    from edge_ai_ros.demo import compressed

    choice = args.model or ("int8" if compressed.int8_shipped() else "fp32")
    if not args.model and choice == "fp32":
        print(f"edge-ai-ros demo: no compressed demo detector in {compressed.INT8_MANIFEST.parent}: serving the FP32 one",
              flush=True)
    if choice not in compressed.CHOICES:
        return None
    compiled = None
    if compressed.int8_shipped() or choice == "int8":
        max_drop = demo_models.DEFAULT_MAX_DROP if args.max_drop is None else args.max_drop
        try:
            compiled = demo_models.compile_int8(bag=args.bag, backend=args.backend, cache_dir=args.cache_dir,
                                               max_drop=max_drop)
        except EdgeAiError as err:
            if choice == "int8":
                raise
            print(f"edge-ai-ros demo: no INT8 column: {one_line(err)}", flush=True)
        else:
            print(f"edge-ai-ros demo: {compiled.describe()}", flush=True)
    args.model = str(compiled.manifest if choice == "int8" and compiled else compressed.FP32_MANIFEST)
    return choice, compiled


def _collect(args: argparse.Namespace) -> dict[str, Any]:
    """Run the graph until the bag ends; return plain data about what went out and came back."""
    from edge_ai_ros.ros.drivers.graph import GraphRunner, run_until_done  # rclpy loads here

    specs = node_specs(options_from_args(args, bag=args.bag))
    print(f"edge-ai-ros demo: {describe(specs)} replaying {args.bag}", flush=True)
    with GraphRunner(specs) as runner:
        on_line = None if args.quiet else (lambda line: print("  " + line.format(), flush=True))
        run_until_done(runner, exit_on_end=True, startup_timeout_s=args.startup_timeout, on_line=on_line)
        assert runner.camera is not None and runner.collector is not None
        received = runner.collector.received
        return {
            "topic": runner.camera.bag_topic.name,
            "published": [(p.index, p.bag_time_ns, p.stamp_ns) for p in runner.camera.published],
            "received": [(r.stamp_ns, r.latency_s, r.detections) for r in received],
            "span_s": _span_s(runner.camera.published, received),
            "model_id": received[0].model_id if received else "",
            "diagnostics": runner.collector.diagnostics,
        }


def _span_s(published: list[Any], received: list[Any]) -> float:
    if not published or not received:
        return 0.0
    return float(max(r.received_ns for r in received) - min(p.stamp_ns for p in published)) / 1e9


def _write_report(args: argparse.Namespace, run: dict[str, Any]) -> tuple[Path, ...]:
    from edge_ai_ros.atomic_io import atomic_write_text
    from edge_ai_ros.demo import run_report as rr
    from edge_ai_ros.imaging.draw import save_png

    gt_path = Path(args.ground_truth) if args.ground_truth else Path(args.bag) / GROUND_TRUTH_NAME
    truth = rr.load_ground_truth(gt_path) if args.ground_truth or gt_path.is_file() else None
    outcomes = rr.match_outputs(run["published"], run["received"])
    backend = run["diagnostics"].get("backend", "") or "unknown backend"
    summary = rr.summarize(outcomes, model_id=run["model_id"], backend=backend, bag=args.bag,
                           wall_s=run["span_s"], diagnostics=run["diagnostics"], truth=truth)
    comparison_md = ""
    if run.get("models") is not None:
        comparison = _compare(args, run, summary, truth)
        summary = replace(summary, comparison=comparison.to_dict())
        from edge_ai_ros.demo.side_by_side import to_markdown as comparison_markdown

        comparison_md = "\n" + comparison_markdown(comparison)
    out = Path(args.out)
    paths = (out / "contact_sheet.png", out / "summary.json", out / "summary.md")
    picked = rr.pick_sheet_frames(outcomes, args.sheet_frames)
    if picked:
        images = rr.read_bag_frames(args.bag, run["topic"], {o.index for o in picked})
        save_png(paths[0], rr.render_sheet([(o, images[o.index]) for o in picked], title=_title(summary)))
    atomic_write_text(paths[1], summary.to_json())
    atomic_write_text(paths[2], rr.to_markdown(summary) + comparison_md)
    print(rr.to_markdown(summary) + comparison_md, flush=True)
    return paths if picked else paths[1:]


def _compare(args: argparse.Namespace, run: dict[str, Any], summary: DemoSummary,
             truth: GroundTruthSet | None) -> SideBySide:
    """Both demo models over the bag's frames in process, on the runtime the node used."""
    from edge_ai_ros.demo import compressed
    from edge_ai_ros.demo import side_by_side as sbs

    served, compiled = run["models"]
    backend = run["diagnostics"].get("backend", "") or (compiled.backend if compiled else "onnxruntime")
    manifests = {"fp32": compressed.FP32_MANIFEST}
    facts = [compressed.ModelFacts.of("fp32", compressed.FP32_MANIFEST)]
    if compiled is not None:
        manifests["int8"] = compiled.manifest
        facts.append(compressed.ModelFacts.of("int8", compressed.INT8_MANIFEST))
    frames = sbs.bag_frames(args.bag, run["topic"])
    load_before = os.getloadavg()[0]
    passes = sbs.run_pass(manifests, frames, backend=backend, truth=truth)
    load = (round(load_before, 2), round(os.getloadavg()[0], 2))
    node_ms = summary.engine_ms.get("p50")
    columns = sbs.build_columns(facts, passes, served=served, node_engine_ms=node_ms,
                                live_map50=summary.map50["map"] if summary.map50 else None)
    note = ("Live: the served model's answers over ROS (the table above). In-process: both models over the same "
            "decoded bag frames in this process after the run, alternating which goes first per frame, same "
            "backend, engine call only. Size: the shipped ONNX file. Parameters: the manifests (build.parameters).")
    how = compiled.describe() if compiled else "No compressed model shipped."
    return sbs.SideBySide(backend=backend, frames=len(frames), columns=columns, compile=how, note=note,
                          load_average=load)


def _title(s: Any) -> str:
    parts = [f"{s.model_id} on {s.backend}", f"{s.frames_answered}/{s.frames_published} frames",
             f"{s.fps:.1f} fps"]
    if s.latency_ms is not None:
        parts.append(f"e2e p50 {s.latency_ms['p50']:.1f} ms")
    if s.map50 is not None:
        parts.append(f"mAP@0.5 {s.map50['map']:.3f}")
    return "   |   ".join(parts)


def run(args: argparse.Namespace) -> int:
    started = time.monotonic()
    try:
        models = _prepare_models(args)
        collected = _collect(args)
        collected["models"] = models
        if not collected["received"]:
            print("edge-ai-ros demo: the node answered no frame; see its log above", file=sys.stderr)
            return 1
        paths = _write_report(args, collected)
    except EdgeAiError as err:
        print(f"edge-ai-ros demo: {one_line(err)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    print(f"wrote {', '.join(str(p) for p in paths)} in {time.monotonic() - started:.1f} s", flush=True)
    return 0
