"""``edge-ai-ros``: one command, one subcommand per stage.

Subcommands live in their own modules and are imported only when chosen, so
``edge-ai-ros --help`` loads neither rclpy nor torch.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

# name -> (module, one-line help). Each module defines add_arguments(parser) and run(args) -> int.
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "up": ("edge_ai_ros.cli.up", "run the perception node graph in one process (the demo uses it)"),
    "demo": ("edge_ai_ros.cli.demo", "replay the shipped demo bag through the node and report"),
    "inspect": ("edge_ai_ros.cli.inspect", "say what an ONNX model is and write the manifest compile reads"),
    "compile": ("edge_ai_ros.cli.compile", "build an engine (fp32/fp16/int8) from an ONNX model"),
    "cache": ("edge_ai_ros.cli.cache", "list, verify (re-hash) or prune the engine cache"),
    "bench": ("edge_ai_ros.cli.bench", "benchmark engines: PyTorch vs every backend and precision"),
    "bench-node": ("edge_ai_ros.cli.bench_node", "benchmark the inference node with 30 Hz camera frames"),
    "bench-cameras": ("edge_ai_ros.cli.bench_cameras", "benchmark N cameras: one batched node against N nodes"),
    "bench-swap": ("edge_ai_ros.cli.bench_swap", "hot-swap two models 20 times under 30 Hz frames and report"),
    "compress": ("edge_ai_ros.cli.compress", "prune, distil and quantize a model from a recipe"),
    "params": ("edge_ai_ros.cli.params", "print the inference node's documented params file or parameter table"),
    "replay": ("edge_ai_ros.cli.replay", "replay a rosbag2 bag through the node and compare with golden"),
    "train-demo": ("edge_ai_ros.cli.train_demo", "train the demo detector on generated road scenes"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="edge-ai-ros", description=__doc__.splitlines()[0] if __doc__ else None)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (_module, help_text) in SUBCOMMANDS.items():
        sub.add_parser(name, help=help_text, add_help=False)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help") or args[0] not in SUBCOMMANDS:
        parser = build_parser()
        if args and args[0] not in ("-h", "--help"):
            parser.print_usage(sys.stderr)
            print(f"edge-ai-ros: unknown command {args[0]!r}; choose from {', '.join(SUBCOMMANDS)}", file=sys.stderr)
            return 2
        parser.print_help()
        return 0
    name = args[0]
    module_name, help_text = SUBCOMMANDS[name]
    module = importlib.import_module(module_name)
    parser = argparse.ArgumentParser(prog=f"edge-ai-ros {name}", description=help_text)
    module.add_arguments(parser)
    return int(module.run(parser.parse_args(args[1:])))


if __name__ == "__main__":
    sys.exit(main())
