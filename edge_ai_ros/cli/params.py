"""``edge-ai-ros params``: print the inference node's documented params file or parameter table."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from edge_ai_ros.atomic_io import atomic_write_text
from edge_ai_ros.serving.settings_docs import render_markdown, render_yaml


def add_arguments(parser: argparse.ArgumentParser) -> None:
    kind = parser.add_mutually_exclusive_group(required=True)
    kind.add_argument("--yaml", action="store_true", help="the documented params file (config/perception.yaml)")
    kind.add_argument("--markdown", action="store_true", help="the parameter table (docs/parameters.md)")
    parser.add_argument("--out", type=Path, default=None, help="write here instead of printing")


def run(args: argparse.Namespace) -> int:
    text = render_yaml() if args.yaml else render_markdown()
    if args.out is None:
        sys.stdout.write(text)
    else:
        atomic_write_text(args.out, text)
        print(f"wrote {args.out}")
    return 0
