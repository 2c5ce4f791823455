"""The demo scene's world as data: a pinhole camera over a road and the objects standing on it.

Sizes and distances are metres (lateral offset x, distance z); scene.py samples and advances
worlds and renders them, painter.py draws their objects.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, kw_only=True)
class WorldObject:
    """Something standing on the ground plane; sizes in metres, colours RGB."""

    kind: str
    x: float
    z: float
    width: float
    height: float
    color: tuple[int, int, int]
    variant: int = 0
    speed: float = 0.0  # m/s along +z in the world (ego speed is subtracted when advancing)
    elevation: float = 0.0  # metres above the ground of the object's base (sign faces on poles)


@dataclass(frozen=True, kw_only=True)
class Look:
    """Everything about a frame's appearance that is not an object."""

    sky_top: tuple[int, int, int]
    sky_bottom: tuple[int, int, int]
    ground: tuple[int, int, int]
    road: tuple[int, int, int]
    sidewalk: tuple[int, int, int]
    lanes: int
    lane_width: float
    sidewalk_width: float
    brightness: float
    gamma: float
    tint: tuple[float, float, float]
    noise: int
    blur: float


@dataclass(frozen=True, kw_only=True)
class World:
    width: int
    height: int
    focal: float
    horizon: float
    center_x: float
    camera_height: float
    look: Look
    objects: tuple[WorldObject, ...]
    dash_phase: float = 0.0

    @property
    def road_half(self) -> float:
        return self.look.lanes * self.look.lane_width / 2.0

    def project(self, x: float, z: float) -> tuple[float, float]:
        """Ground point (x, z) -> pixel (u, v)."""
        return self.center_x + self.focal * x / z, self.horizon + self.focal * self.camera_height / z
