"""``edge-ai-ros compress recipe.yaml``: prune, distil and quantize a model from a recipe.

The recipe is read and checked before any training (its factories imported and called, the
weights loaded, the input run, layer names and structured pruning checked); a bad recipe
exits 2 with the field and the fix. Ctrl-C stops the run
and leaves the previous output folder as it was.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("recipe", type=Path, help="recipe YAML (see config/compress_demo.yaml)")
    parser.add_argument("--output-dir", type=Path, default=None, help="override the recipe's output_dir")
    parser.add_argument("--check", action="store_true", help="validate the recipe against the model and exit")
    parser.add_argument("--quiet", action="store_true", help="no per-step training progress lines")


def run(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from edge_ai_ros.compression.recipe import load_recipe
    from edge_ai_ros.compression.recipe_check import check_recipe
    from edge_ai_ros.compression.runner import run_recipe
    from edge_ai_ros.errors import EdgeAiError

    try:
        recipe = load_recipe(args.recipe)
        if args.output_dir is not None:
            recipe = replace(recipe, output_dir=args.output_dir.resolve())
        base_dir = args.recipe.resolve().parent
        if args.check:
            check_recipe(recipe, base_dir)
            print(f"recipe {args.recipe} is valid: {len(recipe.steps)} steps -> {recipe.output_dir}")
            return 0
        report = run_recipe(recipe, base_dir=base_dir, progress=not args.quiet)
    except EdgeAiError as err:
        print(f"edge-ai-ros compress: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("edge-ai-ros compress: interrupted; nothing was written", file=sys.stderr)
        return 130
    print(f"report: {report}")
    return 0
