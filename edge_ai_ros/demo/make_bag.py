"""Write the shipped demo bag: a generated drive, JPEG frames at 10 Hz, with ground truth.

One world (split "bag" of the generator) is advanced 0.1 s per frame: the ego car drives at
12 m/s, other traffic moves at its own speed, and objects that leave the view respawn far
ahead, so consecutive frames form a smooth sequence. ``ground_truth.json`` sits inside the
bag directory: {"labels", "topic", "frames": [{"index", "stamp_ns", "boxes", "class_ids"}]}.

Run: ``python -m edge_ai_ros.demo.make_bag [--out DIR] [--seed N] [--frames N]``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from edge_ai_ros.atomic_io import atomic_write_text
from edge_ai_ros.bags.writer import BagWriterConfig, ImageBagWriter
from edge_ai_ros.demo.scene import CLASSES, KIND_TO_CLASS, advance, render, sample_world, scene_rng
from edge_ai_ros.demo.world import World

DEFAULT_OUT = Path(__file__).resolve().parents[1] / "assets" / "demo_bag"
TOPIC = "/camera/image_raw/compressed"
FRAME_ID = "camera"
PERIOD_NS = 100_000_000  # 10 Hz
START_NS = 1_767_225_600_000_000_000  # 2026-01-01T00:00:00Z, fixed so the bag is reproducible
EGO_SPEED = 12.0  # m/s
GROUND_TRUTH_NAME = "ground_truth.json"


def drive_start(seed: int) -> World:
    """The first world of the drive: the first candidate with a busy street, sensor noise kept low."""
    for index in range(100):
        world = sample_world(scene_rng("bag", seed, index))
        labelled = sum(KIND_TO_CLASS[o.kind] >= 0 for o in world.objects)
        kinds = {KIND_TO_CLASS[o.kind] for o in world.objects}
        if labelled >= 8 and {0, 1, 2} <= kinds:
            return replace(world, look=replace(world.look, noise=min(world.look.noise, 3), blur=0.0,
                                               brightness=max(world.look.brightness, 0.8)))
    raise RuntimeError("no busy street in 100 candidates")  # unreachable for the object counts in scene.py


def write_drive(path: Path, *, seed: int, frames: int, quality: int = 80) -> dict[str, object]:
    """Write the bag (with ground_truth.json inside) at ``path``, which must not exist yet."""
    rng = scene_rng("bag", seed, 1_000_000)
    world = drive_start(seed)
    truth: list[dict[str, object]] = []
    with ImageBagWriter(path, BagWriterConfig(jpeg_quality=quality)) as bag:
        for index in range(frames):
            scene = render(world, rng)
            stamp = START_NS + index * PERIOD_NS
            bag.write_compressed(TOPIC, scene.image, stamp, frame_id=FRAME_ID, format="jpeg")
            truth.append({"index": index, "stamp_ns": stamp, "boxes": [[round(float(v), 1) for v in b] for b in scene.boxes],
                          "class_ids": [int(c) for c in scene.class_ids]})
            world = advance(world, PERIOD_NS / 1e9, EGO_SPEED, rng)
    summary = {"labels": list(CLASSES), "topic": TOPIC, "frame_id": FRAME_ID, "seed": seed, "width": world.width,
               "height": world.height, "frames": truth}
    atomic_write_text(path / GROUND_TRUTH_NAME, json.dumps(summary, indent=1) + "\n").chmod(0o644)
    return summary


def make_demo_bag(out: Path = DEFAULT_OUT, *, seed: int = 0, frames: int = 100) -> Path:
    """Build the bag beside ``out`` and swap it in, replacing an older one."""
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        write_drive(staging / out.name, seed=seed, frames=frames)
        if out.exists():
            shutil.rmtree(out)
        (staging / out.name).replace(out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m edge_ai_ros.demo.make_bag", description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(DEFAULT_OUT), help="bag directory to (re)create")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--frames", type=int, default=100)
    args = parser.parse_args(argv)
    out = make_demo_bag(Path(args.out), seed=args.seed, frames=args.frames)
    size = sum(f.stat().st_size for f in out.iterdir())
    print(f"wrote {out} ({args.frames} frames, {size / 1e6:.2f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
