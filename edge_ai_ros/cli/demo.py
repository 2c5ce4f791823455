"""``edge-ai-ros demo`` (what ``make demo`` runs): the shipped bag through the shipped model.

camera_source replays the demo bag into inference_node over real rclpy topics, in one
process (``edge-ai-ros up``'s runner); a line a second shows frames, fps and latency; when
the bag ends it writes a contact sheet, summary.json and summary.md and exits 0.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from edge_ai_ros.cli.up import add_graph_arguments, describe, options_from_args
from edge_ai_ros.errors import EdgeAiError
from edge_ai_ros.ros.graph_spec import node_specs

ASSETS = Path(__file__).resolve().parents[1] / "assets"
DEMO_BAG = ASSETS / "demo_bag"
GROUND_TRUTH_NAME = "ground_truth.json"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_graph_arguments(parser)
    parser.add_argument("--bag", default=str(DEMO_BAG), help="rosbag2 bag to replay (default: the shipped demo bag)")
    parser.add_argument("--out", default="out/demo", help="folder for contact_sheet.png and summary.json/.md")
    parser.add_argument("--sheet-frames", type=int, default=12, help="frames on the contact sheet")
    parser.add_argument("--ground-truth", default="",
                        help=f"ground-truth json for mAP@0.5 (default: <bag>/{GROUND_TRUTH_NAME} when present)")
    parser.add_argument("--quiet", action="store_true", help="no live line once a second")


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
    out = Path(args.out)
    paths = (out / "contact_sheet.png", out / "summary.json", out / "summary.md")
    picked = rr.pick_sheet_frames(outcomes, args.sheet_frames)
    if picked:
        images = rr.read_bag_frames(args.bag, run["topic"], {o.index for o in picked})
        save_png(paths[0], rr.render_sheet([(o, images[o.index]) for o in picked], title=_title(summary)))
    atomic_write_text(paths[1], summary.to_json())
    atomic_write_text(paths[2], rr.to_markdown(summary))
    print(rr.to_markdown(summary), flush=True)
    return paths if picked else paths[1:]


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
        collected = _collect(args)
        if not collected["received"]:
            print("edge-ai-ros demo: the node answered no frame; see its log above", file=sys.stderr)
            return 1
        paths = _write_report(args, collected)
    except EdgeAiError as err:
        print(f"edge-ai-ros demo: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    print(f"wrote {', '.join(str(p) for p in paths)} in {time.monotonic() - started:.1f} s", flush=True)
    return 0
