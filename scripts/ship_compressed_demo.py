"""Ship a finished compression run's INT8 variant as the demo's compressed detector.

    .venv/bin/python scripts/ship_compressed_demo.py RUN_DIR VARIANT --recipe RECIPE.yaml

RUN_DIR is the output_dir of ``edge-ai-ros compress RECIPE.yaml`` (with its report.json),
VARIANT a QAT variant of it (e.g. ``pruned40_kd_qat``). Writes
edge_ai_ros/assets/demo_detector_int8/ (detector.onnx, detector.safetensors, their manifest,
provenance.json, and fp32_reference/ = the FP32 variant it was quantized from); see
edge_ai_ros/demo/ship.py. ``edge-ai-ros demo`` serves it by default from then on.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from edge_ai_ros.demo.ship import INT8_DIR, ship  # noqa: E402
from edge_ai_ros.errors import EdgeAiError, one_line  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run_dir", type=Path, help="output_dir of a finished edge-ai-ros compress run")
    parser.add_argument("variant", help="its INT8 (QAT) variant, e.g. pruned40_kd_qat")
    parser.add_argument("--recipe", type=Path, required=True, help="the recipe YAML the run was made from")
    parser.add_argument("--dest", type=Path, default=INT8_DIR, help=f"target folder (default: {INT8_DIR})")
    args = parser.parse_args(argv)
    try:
        manifest = ship(args.run_dir, args.variant, args.recipe, args.dest)
    except EdgeAiError as err:
        print(f"ship_compressed_demo: {one_line(err)}", file=sys.stderr)
        return 1
    print(f"shipped {args.variant} of {args.run_dir}: {manifest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
