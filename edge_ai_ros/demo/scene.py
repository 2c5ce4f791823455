"""Procedural road scenes with exact boxes: the demo detector's whole data set.

A scene is a small world (a pinhole camera over a road, objects at lateral offset x and
distance z in metres) rendered with Pillow. Keeping the world separate from the pixels lets
the demo bag advance one world frame by frame, so consecutive frames form a drive. Boxes
come from an object-id map drawn alongside the image, so they are tight on what is visible
after occlusion and cropping by the frame edge.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from edge_ai_ros.demo.painter import OCCLUDER_ID, Painter, draw_object
from edge_ai_ros.demo.world import Look, World, WorldObject

CLASSES = ("vehicle", "pedestrian", "traffic_sign")
KIND_TO_CLASS = {"car": 0, "truck": 0, "pedestrian": 1, "sign": 2, "tree": -1, "building": -1}

MIN_VISIBLE_FRACTION = 0.35  # objects less visible than this (occluded, out of frame) are dropped
MIN_BOX_SIDE = 6.0  # px in the rendered frame (half that in the 320x320 model input)
MIN_BOX_LONG_SIDE = 14.0


@dataclass(frozen=True, kw_only=True)
class Scene:
    """One rendered frame: RGB uint8 HxWx3, boxes float32 [K, 4] x1 y1 x2 y2, class ids int64 [K]."""

    image: np.ndarray
    boxes: np.ndarray
    class_ids: np.ndarray


def _color(rng: np.random.Generator, low: int, high: int) -> tuple[int, int, int]:
    c = rng.integers(low, high, size=3)
    return int(c[0]), int(c[1]), int(c[2])


def _sample_look(rng: np.random.Generator) -> Look:
    grey = int(rng.integers(60, 120))
    return Look(
        sky_top=_color(rng, 40, 140),
        sky_bottom=_color(rng, 150, 235),
        ground=(int(rng.integers(40, 120)), int(rng.integers(70, 150)), int(rng.integers(30, 90))),
        road=(grey, grey + int(rng.integers(-8, 9)), grey + int(rng.integers(-8, 12))),
        sidewalk=_color(rng, 120, 190),
        lanes=int(rng.integers(2, 5)),
        lane_width=float(rng.uniform(3.0, 3.8)),
        sidewalk_width=float(rng.uniform(1.5, 3.5)),
        brightness=float(rng.uniform(0.55, 1.25)),
        gamma=float(rng.uniform(0.7, 1.5)),
        tint=(float(rng.uniform(0.85, 1.15)), float(rng.uniform(0.9, 1.1)), float(rng.uniform(0.85, 1.15))),
        noise=int(rng.integers(0, 12)),
        blur=float(rng.uniform(0.6, 1.6)) if rng.random() < 0.15 else 0.0,
    )


def sample_object(rng: np.random.Generator, kind: str, road_half: float, look: Look,
                  z_range: tuple[float, float] = (4.0, 70.0)) -> WorldObject:
    """One object of ``kind`` at a plausible place for it (lane, sidewalk, roadside)."""
    z = float(rng.uniform(*z_range))
    side = 1.0 if rng.random() < 0.5 else -1.0
    walk = road_half + look.sidewalk_width
    if kind in ("car", "truck"):
        lane = int(rng.integers(0, look.lanes))
        x = -road_half + (lane + 0.5) * look.lane_width + float(rng.normal(0.0, 0.3))
        big = kind == "truck"
        width = float(rng.uniform(2.3, 2.6) if big else rng.uniform(1.6, 2.0))
        height = float(rng.uniform(2.6, 3.6) if big else rng.uniform(1.3, 1.9))
        speed = float(rng.uniform(-3.0, 3.0)) + (12.0 if x > 0 else -12.0)
        return WorldObject(kind=kind, x=x, z=z, width=width, height=height, color=_color(rng, 20, 235),
                           variant=int(rng.integers(0, 3)), speed=speed)
    if kind == "pedestrian":
        on_road = rng.random() < 0.2
        x = float(rng.uniform(-road_half, road_half)) if on_road else side * float(rng.uniform(road_half + 0.3, walk))
        height = float(rng.uniform(1.45, 1.95))
        return WorldObject(kind=kind, x=x, z=min(z, 32.0), width=height * 0.36, height=height,
                           color=_color(rng, 10, 245), variant=int(rng.integers(0, 1 << 16)),
                           speed=float(rng.uniform(-1.5, 1.5)))
    if kind == "sign":
        size = float(rng.uniform(0.7, 1.2))
        return WorldObject(kind=kind, x=side * float(rng.uniform(road_half + 0.3, walk + 0.5)), z=min(z, 40.0),
                           width=size, height=size, color=_color(rng, 0, 255), variant=int(rng.integers(0, 6)),
                           elevation=float(rng.uniform(1.6, 2.8)))
    if kind == "tree":
        return WorldObject(kind=kind, x=side * float(rng.uniform(walk + 0.5, walk + 12.0)), z=z * 1.3,
                           width=float(rng.uniform(2.0, 5.0)), height=float(rng.uniform(4.0, 10.0)),
                           color=_color(rng, 20, 120), variant=0)
    return WorldObject(kind="building", x=side * float(rng.uniform(walk + 6.0, walk + 16.0)), z=z * 1.5 + 10.0,
                       width=float(rng.uniform(8.0, 20.0)), height=float(rng.uniform(6.0, 25.0)),
                       color=_color(rng, 70, 220), variant=int(rng.integers(0, 1 << 16)))


_OBJECT_COUNTS = {"car": (0, 6), "truck": (0, 2), "pedestrian": (0, 5), "sign": (0, 3),
                  "tree": (0, 6), "building": (0, 5)}


def sample_world(rng: np.random.Generator, width: int = 640, height: int = 480) -> World:
    """A random world; everything about the frame is drawn from ``rng``."""
    look = _sample_look(rng)
    road_half = look.lanes * look.lane_width / 2.0
    objects = [
        sample_object(rng, kind, road_half, look)
        for kind, (low, high) in _OBJECT_COUNTS.items()
        for _ in range(int(rng.integers(low, high + 1)))
    ]
    return World(
        width=width, height=height, focal=float(rng.uniform(0.75, 0.95)) * width,
        horizon=float(rng.uniform(0.36, 0.5)) * height,
        center_x=width / 2.0 + float(rng.normal(0.0, 0.06)) * width,
        camera_height=float(rng.uniform(1.3, 1.7)), look=look, objects=tuple(objects),
        dash_phase=float(rng.uniform(0.0, 12.0)),
    )


def advance(world: World, dt: float, ego_speed: float, rng: np.random.Generator) -> World:
    """Move the world ``dt`` seconds on; objects that leave the view respawn far ahead (small, so no jump)."""
    moved = []
    for obj in world.objects:
        z = obj.z + (obj.speed - ego_speed) * dt
        if z < 3.0 or z > 110.0:
            z_range = (55.0, 75.0) if obj.kind in ("car", "truck") else (35.0, 40.0)
            moved.append(sample_object(rng, obj.kind, world.road_half, world.look, z_range=z_range))
        else:
            moved.append(replace(obj, z=z))
    return replace(world, objects=tuple(moved), dash_phase=(world.dash_phase + ego_speed * dt) % 12.0)


def _background(world: World) -> Image.Image:
    """Sky gradient above the horizon, ground gradient below, built as numpy rows."""
    look, h = world.look, world.height
    rows = np.arange(h, dtype=np.float32)[:, None]
    t_sky = np.clip(rows / max(world.horizon, 1.0), 0.0, 1.0)
    sky = (1 - t_sky) * np.asarray(look.sky_top, np.float32) + t_sky * np.asarray(look.sky_bottom, np.float32)
    t_gnd = np.clip((rows - world.horizon) / max(h - world.horizon, 1.0), 0.0, 1.0)
    ground = np.asarray(look.ground, np.float32) * (0.75 + 0.35 * t_gnd)
    column = np.where(rows < world.horizon, sky, ground).clip(0, 255).astype(np.uint8)
    return Image.fromarray(np.ascontiguousarray(column[:, None, :])).resize((world.width, h), Image.Resampling.NEAREST)


def _ground_strip(world: World, x0: float, x1: float, z0: float, z1: float) -> list[tuple[float, float]]:
    return [world.project(x0, z1), world.project(x1, z1), world.project(x1, z0), world.project(x0, z0)]


def _draw_road(world: World, draw: ImageDraw.ImageDraw) -> None:
    look, rh = world.look, world.road_half
    far, near = 300.0, 0.3
    for side in (-1.0, 1.0):
        draw.polygon(_ground_strip(world, side * rh, side * (rh + look.sidewalk_width), near, far), fill=look.sidewalk)
    draw.polygon(_ground_strip(world, -rh, rh, near, far), fill=look.road)
    for side in (-1.0, 1.0):
        edge = side * (rh - 0.25)
        draw.polygon(_ground_strip(world, edge - 0.07, edge + 0.07, near, far), fill=(225, 225, 215))
    for k in range(1, look.lanes):
        x = -rh + k * look.lane_width
        for start in np.arange(1.0 - world.dash_phase, 120.0, 12.0):
            z0 = max(float(start), near)
            z1 = float(start) + 4.0
            if z1 > near:
                draw.polygon(_ground_strip(world, x - 0.08, x + 0.08, z0, z1), fill=(235, 235, 225))


def _apply_lighting(image: Image.Image, look: Look, rng: np.random.Generator) -> np.ndarray:
    """Brightness, gamma and tint through one lookup table, then blur and sensor noise."""
    levels = np.arange(256, dtype=np.float32) / 255.0
    lut = np.concatenate([
        np.clip(255.0 * look.brightness * tint * levels ** look.gamma, 0, 255) for tint in look.tint
    ]).astype(np.uint8)
    image = image.point(lut.tolist())
    if look.blur > 0:
        image = image.filter(ImageFilter.BoxBlur(look.blur))
    pixels: np.ndarray = np.array(image)
    if look.noise > 0:
        noise = rng.integers(-look.noise, look.noise + 1, size=pixels.shape, dtype=np.int16)
        pixels = np.clip(pixels.astype(np.int16) + noise, 0, 255).astype(np.uint8)
    return pixels


def _visible_box(ids: np.ndarray, oid: int, rect: tuple[int, int, int, int]) -> tuple[np.ndarray, int] | None:
    x0, y0, x1, y1 = rect
    ys, xs = np.nonzero(ids[y0:y1, x0:x1] == oid)
    if xs.size == 0:
        return None
    return np.array([x0 + xs.min(), y0 + ys.min(), x0 + xs.max() + 1, y0 + ys.max() + 1], np.float32), int(xs.size)


def render(world: World, rng: np.random.Generator) -> Scene:
    """Draw ``world``; ``rng`` only adds sensor noise."""
    image = _background(world)
    id_map = Image.new("L", (world.width, world.height), 0)
    _draw_road(world, ImageDraw.Draw(image))
    painter = Painter(image, id_map)
    drawn: list[tuple[int, int, float]] = []  # (object id, class id, area fraction inside the frame)
    order = sorted(range(len(world.objects)), key=lambda i: -world.objects[i].z)
    for rank, index in enumerate(order):
        obj = world.objects[index]
        cls = KIND_TO_CLASS[obj.kind]
        oid = rank + 1 if cls >= 0 else OCCLUDER_ID
        inside = draw_object(painter, world, obj, oid)
        if cls >= 0 and inside > 0.0:
            drawn.append((oid, cls, inside))
    boxes, class_ids = _collect_boxes(np.asarray(id_map), drawn, painter)
    return Scene(image=_apply_lighting(image, world.look, rng), boxes=boxes, class_ids=class_ids)


def _collect_boxes(ids: np.ndarray, drawn: list[tuple[int, int, float]],
                   painter: Painter) -> tuple[np.ndarray, np.ndarray]:
    boxes, class_ids = [], []
    for oid, cls, inside in drawn:
        area = painter.areas.get(oid, 0)
        found = _visible_box(ids, oid, painter.rects[oid]) if area > 0 else None
        if found is None:
            continue
        box, visible = found
        side_w, side_h = box[2] - box[0], box[3] - box[1]
        if visible / area * inside < MIN_VISIBLE_FRACTION:
            continue
        if min(side_w, side_h) < MIN_BOX_SIDE or max(side_w, side_h) < MIN_BOX_LONG_SIDE:
            continue
        boxes.append(box)
        class_ids.append(cls)
    if not boxes:
        return np.zeros((0, 4), np.float32), np.zeros((0,), np.int64)
    return np.stack(boxes).astype(np.float32), np.asarray(class_ids, np.int64)


def generate_scene(rng: np.random.Generator, width: int = 640, height: int = 480) -> Scene:
    """A random road scene with its boxes; deterministic for a given generator state."""
    return render(sample_world(rng, width, height), rng)


SPLITS = {"train": 0, "eval": 1, "calibration": 2, "bag": 3}


def scene_rng(split: str, seed: int, index: int) -> np.random.Generator:
    """The generator for scene ``index`` of ``split``; splits never share a stream (held-out by design)."""
    return np.random.default_rng([SPLITS[split], seed, index])


def scene_at(split: str, seed: int, index: int, width: int = 640, height: int = 480) -> Scene:
    """Scene ``index`` of a split: random access, so data sets need no storage."""
    return generate_scene(scene_rng(split, seed, index), width, height)
