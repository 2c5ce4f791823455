"""Box overlays and contact sheets for people to look at (demo, replay reports).

Pure Pillow + numpy, no rclpy: reports are drawn offline as well as from the node graph.
Replay draws golden and candidate boxes on one frame, so a style can fix one colour and a
dash pattern for all boxes instead of the per-class palette.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from edge_ai_ros.atomic_io import atomic_output_path
from edge_ai_ros.errors import ConfigError, InvalidInputError
from edge_ai_ros.results import Detection

Colour = tuple[int, int, int]

# Distinct, saturated colours that stay readable on road scenes (Tableau-like order).
PALETTE: tuple[Colour, ...] = (
    (31, 119, 230),
    (255, 127, 14),
    (44, 200, 44),
    (214, 39, 40),
    (148, 103, 189),
    (23, 190, 207),
    (227, 119, 194),
    (188, 189, 34),
    (140, 86, 75),
    (127, 127, 127),
)
GOLDEN_STYLE_COLOUR: Colour = (40, 220, 60)
CANDIDATE_STYLE_COLOUR: Colour = (240, 40, 200)


def class_colour(class_id: int) -> Colour:
    """The palette colour of a class; stable across runs so sheets can be compared."""
    return PALETTE[class_id % len(PALETTE)]


@dataclass(frozen=True, kw_only=True)
class BoxStyle:
    """How boxes are drawn. ``colour=None`` colours each box by its class."""

    colour: Colour | None = None
    line_width: int = 2
    dash: int = 0  # dash length in pixels; 0 = solid
    show_label: bool = True
    show_score: bool = True
    label_below: bool = False  # put the label under the box (keeps two overlaid styles apart)
    font_size: int = 12

    def __post_init__(self) -> None:
        if self.line_width < 1:
            raise ConfigError("line_width", f"must be >= 1, got {self.line_width}", fix="use 1 or more pixels")
        if self.dash < 0:
            raise ConfigError("dash", f"must be >= 0, got {self.dash}", fix="use 0 for solid lines")
        if self.font_size < 6:
            raise ConfigError("font_size", f"must be >= 6, got {self.font_size}", fix="use 6 or more")


GOLDEN_STYLE = BoxStyle(colour=GOLDEN_STYLE_COLOUR, line_width=2)
CANDIDATE_STYLE = BoxStyle(colour=CANDIDATE_STYLE_COLOUR, line_width=2, dash=6, label_below=True)


@lru_cache(maxsize=8)
def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=size)


def as_rgb_image(image: np.ndarray) -> Image.Image:
    """A Pillow RGB image from an HxWx3 uint8 array (copied, the input is never changed)."""
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise InvalidInputError(
            "image",
            f"expected an HxWx3 uint8 RGB array, got shape {image.shape} dtype {image.dtype}",
            fix="convert with edge_ai_ros.imaging.raw.decode_raw first",
        )
    return Image.fromarray(np.ascontiguousarray(image), mode="RGB")


def _dashed_segment(draw: ImageDraw.ImageDraw, a: tuple[float, float], b: tuple[float, float],
                    colour: Colour, width: int, dash: int) -> None:
    length = float(np.hypot(b[0] - a[0], b[1] - a[1]))
    if length == 0.0:
        return
    for start in np.arange(0.0, length, 2 * dash):
        end = min(start + dash, length)
        p = (a[0] + (b[0] - a[0]) * start / length, a[1] + (b[1] - a[1]) * start / length)
        q = (a[0] + (b[0] - a[0]) * end / length, a[1] + (b[1] - a[1]) * end / length)
        draw.line([p, q], fill=colour, width=width)


def _box_outline(draw: ImageDraw.ImageDraw, box: tuple[float, float, float, float],
                 colour: Colour, style: BoxStyle) -> None:
    x1, y1, x2, y2 = box
    if style.dash == 0:
        draw.rectangle([x1, y1, x2, y2], outline=colour, width=style.line_width)
        return
    corners = [(x1, y1), (x2, y1), (x2, y2), (x1, y2), (x1, y1)]
    for a, b in zip(corners, corners[1:], strict=False):
        _dashed_segment(draw, a, b, colour, style.line_width, style.dash)


def _label_text(det: Detection, style: BoxStyle) -> str:
    parts = [det.label or str(det.class_id)] if style.show_label else []
    if style.show_score:
        parts.append(f"{det.score:.2f}")
    return " ".join(parts)


def _text_colour(background: Colour) -> Colour:
    luma = 0.299 * background[0] + 0.587 * background[1] + 0.114 * background[2]
    return (0, 0, 0) if luma > 150 else (255, 255, 255)


def _label(draw: ImageDraw.ImageDraw, det: Detection, colour: Colour, style: BoxStyle,
           size: tuple[int, int]) -> None:
    text = _label_text(det, style)
    if not text:
        return
    font = _font(style.font_size)
    left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
    w, h = right - left + 4, bottom - top + 4
    x1, y1, _, y2 = det.box
    x = min(max(0.0, x1), max(0.0, size[0] - w))
    y = y2 if style.label_below else y1 - h
    y = min(max(0.0, y), max(0.0, size[1] - h))
    draw.rectangle([x, y, x + w, y + h], fill=colour)
    draw.text((x + 2 - left, y + 2 - top), text, fill=_text_colour(colour), font=font)


def draw_detections(image: np.ndarray, detections: Sequence[Detection], *,
                    style: BoxStyle = BoxStyle()) -> np.ndarray:
    """A copy of ``image`` (HxWx3 uint8 RGB) with each detection's box and label drawn on it."""
    canvas = as_rgb_image(image)
    draw = ImageDraw.Draw(canvas)
    for det in detections:
        colour = style.colour or class_colour(det.class_id)
        _box_outline(draw, det.box, colour, style)
    for det in detections:  # labels last so no box line crosses a label
        _label(draw, det, style.colour or class_colour(det.class_id), style, canvas.size)
    return np.asarray(canvas).copy()


@dataclass(frozen=True, kw_only=True)
class SheetLayout:
    """Grid geometry of a contact sheet."""

    columns: int = 4
    tile_width: int = 320
    gap: int = 6
    background: Colour = (24, 24, 28)
    caption_size: int = 12
    title_size: int = 18

    def __post_init__(self) -> None:
        if self.columns < 1:
            raise ConfigError("columns", f"must be >= 1, got {self.columns}", fix="use 1 or more")
        if self.tile_width < 16:
            raise ConfigError("tile_width", f"must be >= 16, got {self.tile_width}", fix="use 16 or more")
        if self.gap < 0:
            raise ConfigError("gap", f"must be >= 0, got {self.gap}", fix="use 0 or more")


def _tile(image: np.ndarray, width: int) -> Image.Image:
    img = as_rgb_image(image)
    height = max(1, round(img.height * width / img.width))
    return img.resize((width, height), Image.Resampling.BILINEAR)


def contact_sheet(tiles: Sequence[np.ndarray], *, title: str = "", captions: Sequence[str] = (),
                  layout: SheetLayout = SheetLayout()) -> np.ndarray:
    """One RGB image: an optional title line, then the tiles in a grid, each with its caption."""
    if not tiles:
        raise InvalidInputError("tiles", "no images to put on the sheet", fix="pass at least one frame")
    if captions and len(captions) != len(tiles):
        raise InvalidInputError("captions", f"{len(captions)} captions for {len(tiles)} tiles",
                                fix="give one caption per tile or none")
    scaled = [_tile(t, layout.tile_width) for t in tiles]
    cell_h = max(t.height for t in scaled)
    caption_h = layout.caption_size + 6 if captions else 0
    title_h = layout.title_size + 14 if title else 0
    cols = min(layout.columns, len(scaled))
    rows = -(-len(scaled) // cols)
    width = cols * layout.tile_width + (cols + 1) * layout.gap
    height = title_h + rows * (cell_h + caption_h) + (rows + 1) * layout.gap
    sheet = Image.new("RGB", (width, height), layout.background)
    draw = ImageDraw.Draw(sheet)
    if title:
        draw.text((layout.gap + 2, 7), title, fill=(240, 240, 240), font=_font(layout.title_size))
    for i, tile in enumerate(scaled):
        x = layout.gap + (i % cols) * (layout.tile_width + layout.gap)
        y = title_h + layout.gap + (i // cols) * (cell_h + caption_h + layout.gap)
        sheet.paste(tile, (x, y))
        if captions:
            draw.text((x + 2, y + tile.height + 3), captions[i], fill=(200, 200, 200),
                      font=_font(layout.caption_size))
    return np.asarray(sheet).copy()


def save_png(path: str | os.PathLike[str], image: np.ndarray) -> Path:
    """Write an RGB array as PNG atomically (a reader never sees half a sheet)."""
    img = as_rgb_image(image)
    with atomic_output_path(path) as tmp:
        img.save(tmp, format="PNG", optimize=True)
    return Path(path)
