"""``edge-ai-ros up``: the launch file's node graph, from the same YAML, in one process.

Where launch_ros is not installed (here, CI), this starts inference_node (and camera_source
with ``--bag``, lifecycle_manager with ``--lifecycle-manager``) in one rclpy context with a
MultiThreadedExecutor. Imports nothing from ROS until it runs, so ``--help`` is cheap.
"""

from __future__ import annotations

import argparse
import sys

from edge_ai_ros.errors import EdgeAiError, one_line
from edge_ai_ros.ros.graph_spec import GraphOptions, NodeSpec, node_specs, parse_cameras

MODEL_HELP = "model manifest (*.manifest.json), or an .onnx file (inspected and compiled at FP32, cached); default: the params file's"


def add_graph_arguments(parser: argparse.ArgumentParser, *, model_help: str = MODEL_HELP) -> None:
    """Options that mirror the launch file's arguments (graph_spec.LAUNCH_ARGUMENTS)."""
    parser.add_argument("--params", action="append", default=None, metavar="YAML",
                        help="ROS params file for the nodes (repeatable, later files win); "
                             "default: config/perception.yaml")
    parser.add_argument("--namespace", default="", help="namespace of every node")
    parser.add_argument("--model", default="", help=model_help)
    parser.add_argument("--backend", default="", help="auto, onnxruntime, openvino or tensorrt; default: the "
                                                      "params file's")
    parser.add_argument("--camera-topic", default="image", help="image topic to subscribe (default: image)")
    parser.add_argument("--cameras", default="", metavar="NAME,NAME,...",
                        help="serve several cameras from one node (e.g. front,left,right,rear): each NAME "
                             "subscribes NAME/image_raw and NAME/image_raw/compressed and publishes "
                             "NAME/detections; frames are batched through one engine (docs/inference_node.md)")
    parser.add_argument("-p", "--param", action="append", default=[], metavar="[NODE.]NAME:=VALUE",
                        help="parameter override; bare names are inference_node's (repeatable)")
    parser.add_argument("--lifecycle-manager", action="store_true",
                        help="bring inference_node up through lifecycle_manager instead of autostart")
    parser.add_argument("--startup-timeout", type=float, default=60.0, metavar="S",
                        help="seconds to wait for inference_node to become active")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_graph_arguments(parser)
    parser.add_argument("--bag", default="", help="replay this rosbag2 bag with camera_source")
    parser.add_argument("--exit-on-end", action="store_true", help="exit when the bag ends (with --bag)")
    parser.add_argument("--quiet", action="store_true", help="no live line once a second")


def default_params_files() -> tuple[str, ...]:
    from edge_ai_ros.ros.middleware import config_file  # no ROS import happens here

    return (str(config_file("perception.yaml")),)


def options_from_args(args: argparse.Namespace, *, bag: str = "") -> GraphOptions:
    from edge_ai_ros.inspection.serve_model import manifest_for_serving  # onnx only for .onnx

    bag = bag or getattr(args, "bag", "")
    model = manifest_for_serving(args.model, backend=args.backend) if args.model else ""
    return GraphOptions(
        params_files=tuple(args.params) if args.params else default_params_files(),
        namespace=args.namespace, model=model, backend=args.backend, camera_topic=args.camera_topic,
        cameras=parse_cameras(getattr(args, "cameras", "")),
        use_camera_source=bool(bag), bag=bag, use_lifecycle_manager=args.lifecycle_manager,
        overrides=tuple(args.param),
    )


def describe(specs: tuple[NodeSpec, ...]) -> str:
    return ", ".join(f"{s.namespace.rstrip('/')}/{s.name}" if s.namespace else s.name for s in specs)


def run(args: argparse.Namespace) -> int:
    from edge_ai_ros.ros.drivers.graph import GraphRunner, run_until_done  # rclpy loads here

    try:
        specs = node_specs(options_from_args(args))
        print(f"edge-ai-ros up: starting {describe(specs)}", flush=True)
        with GraphRunner(specs) as runner:
            on_line = None if args.quiet else (lambda line: print(line.format(), flush=True))
            run_until_done(runner, exit_on_end=args.exit_on_end, startup_timeout_s=args.startup_timeout,
                           on_line=on_line)
    except EdgeAiError as err:
        print(f"edge-ai-ros up: {one_line(err)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    return 0
