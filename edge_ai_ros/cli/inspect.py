"""``edge-ai-ros inspect``: what the package infers about an ONNX model; writes its manifest."""

from __future__ import annotations

import argparse
import sys

from edge_ai_ros.errors import EdgeAiError, one_line
from edge_ai_ros.manifest import DETECTION_LAYOUTS


def parse_size(text: str) -> tuple[int, int]:
    """'640' or '640x480' (width x height)."""
    try:
        parts = [int(p) for p in text.lower().split("x")]
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"{text!r} is not WIDTHxHEIGHT") from err
    if len(parts) == 1:
        parts *= 2
    if len(parts) != 2 or min(parts) <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not WIDTHxHEIGHT")
    return parts[0], parts[1]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("onnx", help="the ONNX model")
    parser.add_argument("--labels", default="", help="class names: .txt (one a line) or .yaml (list or names:)")
    parser.add_argument("--layout", default="", choices=("", *DETECTION_LAYOUTS), metavar="NAME",
                        help=f"output layout when it cannot be inferred: {', '.join(DETECTION_LAYOUTS)}")
    parser.add_argument("--imgsz", type=parse_size, default=None, metavar="WxH",
                        help="input size of a dynamic-size model (default: its imgsz metadata)")
    parser.add_argument("--out", default="", help="manifest to write (default: MODEL.onnx.manifest.json)")
    parser.add_argument("--dry-run", action="store_true", help="print only, write nothing")


def run(args: argparse.Namespace) -> int:
    from edge_ai_ros.inspection.model import inspect_onnx, write_manifest  # loads onnx

    try:
        found = inspect_onnx(args.onnx, labels_file=args.labels, layout=args.layout, imgsz=args.imgsz)
        print("\n".join(found.lines()))
        if not args.dry_run:
            print(f"manifest:     {write_manifest(found, args.out or None)}")
    except EdgeAiError as err:
        print(f"edge-ai-ros inspect: {one_line(err)}", file=sys.stderr)
        return 1
    return 0
