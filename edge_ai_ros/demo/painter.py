"""Drawing of scene objects into the image and, with the same shapes, into an object-id map.

Every shape is drawn twice: in colour into the RGB image and with the object's id into an
"L" image. The id map is what makes boxes tight on the visible part of each object.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PIL import Image, ImageDraw

from edge_ai_ros.demo.world import World, WorldObject

OCCLUDER_ID = 255  # unlabelled things (poles, trees, buildings) that hide labelled ones

Point = tuple[float, float]
Color = tuple[int, int, int]


class Painter:
    """Draws shapes into the image and the id map together; remembers each object's drawn area."""

    def __init__(self, image: Image.Image, id_map: Image.Image) -> None:
        self.rgb = ImageDraw.Draw(image)
        self.ids = ImageDraw.Draw(id_map)
        self.id_map = id_map
        self.areas: dict[int, int] = {}
        self.rects: dict[int, tuple[int, int, int, int]] = {}  # clipped pixel rect each object may cover

    def rect(self, box: Sequence[float], color: Color, oid: int) -> None:
        x0, y0, x1, y1 = box
        if x1 - x0 < 0.5 or y1 - y0 < 0.5:
            return
        self.rgb.rectangle((x0, y0, x1, y1), fill=color)
        self.ids.rectangle((x0, y0, x1, y1), fill=oid)

    def ellipse(self, box: Sequence[float], color: Color, oid: int) -> None:
        x0, y0, x1, y1 = box
        if x1 - x0 < 1.0 or y1 - y0 < 1.0:
            self.rect(box, color, oid)
            return
        self.rgb.ellipse((x0, y0, x1, y1), fill=color)
        self.ids.ellipse((x0, y0, x1, y1), fill=oid)

    def polygon(self, points: Sequence[Point], color: Color, oid: int) -> None:
        self.rgb.polygon(list(points), fill=color)
        self.ids.polygon(list(points), fill=oid)

    def measure(self, oid: int, box: Sequence[float]) -> None:
        """Count the pixels ``oid`` covers now, before nearer objects hide parts of it."""
        w, h = self.id_map.size
        x0, y0 = max(0, int(box[0])), max(0, int(box[1]))
        x1, y1 = min(w, int(np.ceil(box[2])) + 1), min(h, int(np.ceil(box[3])) + 1)
        if x1 <= x0 or y1 <= y0:
            self.areas[oid] = 0
            return
        self.rects[oid] = (x0, y0, x1, y1)
        crop = np.asarray(self.id_map.crop((x0, y0, x1, y1)))
        self.areas[oid] = int(np.count_nonzero(crop == oid))


def _shade(color: Color, factor: float) -> Color:
    return (min(255, int(color[0] * factor)), min(255, int(color[1] * factor)), min(255, int(color[2] * factor)))


def _car(p: Painter, u: float, v: float, w: float, h: float, obj: WorldObject, oid: int) -> None:
    body, dark = obj.color, (25, 25, 28)
    p.rect((u - 0.45 * w, v - 0.22 * h, u - 0.25 * w, v), dark, oid)  # wheels
    p.rect((u + 0.25 * w, v - 0.22 * h, u + 0.45 * w, v), dark, oid)
    if obj.kind == "truck":
        p.rect((u - 0.5 * w, v - h, u + 0.5 * w, v - 0.18 * h), body, oid)
        p.rect((u - 0.5 * w, v - 0.3 * h, u + 0.5 * w, v - 0.18 * h), _shade(body, 0.5), oid)
        p.rect((u - 0.42 * w, v - 0.95 * h, u + 0.42 * w, v - 0.88 * h), _shade(body, 0.8), oid)
    else:
        top = 0.28 + 0.06 * obj.variant
        p.polygon([(u - 0.45 * w, v - 0.58 * h), (u - (0.45 - top) * w, v - h),
                   (u + (0.45 - top) * w, v - h), (u + 0.45 * w, v - 0.58 * h)], _shade(body, 0.9), oid)
        p.polygon([(u - 0.38 * w, v - 0.6 * h), (u - (0.4 - top) * w, v - 0.93 * h),
                   (u + (0.4 - top) * w, v - 0.93 * h), (u + 0.38 * w, v - 0.6 * h)], (40, 50, 65), oid)
        p.rect((u - 0.5 * w, v - 0.62 * h, u + 0.5 * w, v - 0.15 * h), body, oid)
    p.rect((u - 0.46 * w, v - 0.5 * h, u - 0.32 * w, v - 0.42 * h), (200, 30, 25), oid)  # lights
    p.rect((u + 0.32 * w, v - 0.5 * h, u + 0.46 * w, v - 0.42 * h), (200, 30, 25), oid)
    p.rect((u - 0.12 * w, v - 0.32 * h, u + 0.12 * w, v - 0.24 * h), (215, 215, 205), oid)  # plate


def _pedestrian(p: Painter, u: float, v: float, w: float, h: float, obj: WorldObject, oid: int) -> None:
    code = obj.variant
    skin = ((230, 190, 160), (190, 140, 100), (120, 80, 55))[code % 3]
    shirt, pants = obj.color, _shade(((code >> 2) % 200 + 30, (code >> 5) % 200 + 30, (code >> 8) % 200 + 30), 0.7)
    stride = ((code >> 11) % 5 - 2) * 0.06 * h
    hip = v - 0.5 * h
    p.polygon([(u - 0.05 * h, hip), (u - 0.01 * h, hip), (u - stride, v), (u - stride - 0.06 * h, v)], pants, oid)
    p.polygon([(u + 0.01 * h, hip), (u + 0.05 * h, hip), (u + stride + 0.06 * h, v), (u + stride, v)], pants, oid)
    p.rect((u - 0.13 * h, v - 0.82 * h, u - 0.09 * h, v - 0.5 * h), _shade(shirt, 0.85), oid)  # arms
    p.rect((u + 0.09 * h, v - 0.82 * h, u + 0.13 * h, v - 0.5 * h), _shade(shirt, 0.85), oid)
    p.rect((u - 0.09 * h, v - 0.84 * h, u + 0.09 * h, v - 0.47 * h), shirt, oid)
    p.ellipse((u - 0.065 * h, v - h, u + 0.065 * h, v - 0.85 * h), skin, oid)


def _sign(p: Painter, u: float, v: float, w: float, h: float, lift: float, obj: WorldObject, oid: int) -> None:
    pole = max(1.0, 0.07 * w)
    p.rect((u - pole / 2, v - lift - h / 2, u + pole / 2, v), (120, 120, 125), OCCLUDER_ID)
    cy, kind = v - lift - h / 2, obj.variant
    box = (u - w / 2, cy - h / 2, u + w / 2, cy + h / 2)
    inner = (u - 0.36 * w, cy - 0.36 * h, u + 0.36 * w, cy + 0.36 * h)
    if kind in (0, 1):  # round: prohibition (red ring) or mandatory (blue disc)
        p.ellipse(box, (200, 20, 25) if kind == 0 else (20, 70, 180), oid)
        p.ellipse(inner, (245, 245, 245) if kind == 0 else (20, 70, 180), oid)
        p.rect((u - 0.2 * w, cy - 0.05 * h, u + 0.2 * w, cy + 0.05 * h), (20, 20, 20) if kind == 0 else (245,) * 3, oid)
    elif kind in (2, 3):  # triangle: warning (up) or yield (down)
        top, bot = (cy - h / 2, cy + h / 2) if kind == 2 else (cy + h / 2, cy - h / 2)
        p.polygon([(u, top), (u + w / 2, bot), (u - w / 2, bot)], (200, 20, 25), oid)
        mid_top, mid_bot = cy + (top - cy) * 0.55, cy + (bot - cy) * 0.6
        p.polygon([(u, mid_top), (u + 0.3 * w, mid_bot), (u - 0.3 * w, mid_bot)], (245, 240, 200), oid)
    elif kind == 4:  # octagon stop sign
        pts = [(u + w / 2 * np.cos(a), cy + h / 2 * np.sin(a)) for a in np.pi / 8 + np.arange(8) * np.pi / 4]
        p.polygon([(float(x), float(y)) for x, y in pts], (190, 15, 20), oid)
        p.rect((u - 0.3 * w, cy - 0.07 * h, u + 0.3 * w, cy + 0.07 * h), (245, 245, 245), oid)
    else:  # rectangular direction sign
        p.rect(box, (245, 245, 245), oid)
        p.rect((box[0] + 0.08 * w, box[1] + 0.08 * h, box[2] - 0.08 * w, box[3] - 0.08 * h),
               (20, 110, 60) if obj.color[0] % 2 else (20, 70, 170), oid)


def _tree(p: Painter, u: float, v: float, w: float, h: float, obj: WorldObject) -> None:
    p.rect((u - 0.08 * w, v - 0.5 * h, u + 0.08 * w, v), (90, 60, 35), OCCLUDER_ID)
    green = (obj.color[0] // 2, obj.color[1] + 60, obj.color[2] // 2)
    p.ellipse((u - w / 2, v - h, u + w / 2, v - 0.35 * h), green, OCCLUDER_ID)


def _building(p: Painter, u: float, v: float, w: float, h: float, obj: WorldObject) -> None:
    p.rect((u - w / 2, v - h, u + w / 2, v), obj.color, OCCLUDER_ID)
    rows, cols = 2 + obj.variant % 6, 2 + (obj.variant >> 3) % 5
    glass = (50, 60, 80) if obj.variant % 2 else (150, 170, 190)
    for r in range(rows):
        for c in range(cols):
            x0 = u - w / 2 + (c + 0.25) * w / cols
            y0 = v - h + (r + 0.25) * h / (rows + 0.5)
            p.rect((x0, y0, x0 + 0.5 * w / cols, y0 + 0.45 * h / (rows + 0.5)), glass, OCCLUDER_ID)


def draw_object(p: Painter, world: World, obj: WorldObject, oid: int) -> float:
    """Draw ``obj``; returns the fraction of its box inside the frame (0 when not drawn)."""
    if obj.z < 1.0:
        return 0.0
    u, v = world.project(obj.x, obj.z)
    scale = world.focal / obj.z
    w, h, lift = obj.width * scale, obj.height * scale, obj.elevation * scale
    if obj.kind in ("car", "truck"):
        _car(p, u, v, w, h, obj, oid)
    elif obj.kind == "pedestrian":
        _pedestrian(p, u, v, w, h, obj, oid)
    elif obj.kind == "sign":
        _sign(p, u, v, w, h, lift, obj, oid)
        v = v - lift
    elif obj.kind == "tree":
        _tree(p, u, v, w, h, obj)
        return 0.0
    else:
        _building(p, u, v, w, h, obj)
        return 0.0
    box = (u - w / 2, v - h, u + w / 2, v)
    p.measure(oid, box)
    full = max((box[2] - box[0]) * (box[3] - box[1]), 1e-6)
    in_w = max(0.0, min(box[2], world.width) - max(box[0], 0.0))
    in_h = max(0.0, min(box[3], world.height) - max(box[1], 0.0))
    return in_w * in_h / full
