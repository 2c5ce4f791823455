"""Box overlays and contact sheets put the expected pixels where the boxes are."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from edge_ai_ros.errors import ConfigError, InvalidInputError
from edge_ai_ros.imaging.draw import (
    CANDIDATE_STYLE,
    BoxStyle,
    SheetLayout,
    class_colour,
    contact_sheet,
    draw_detections,
    save_png,
)
from edge_ai_ros.results import Detection


def _det(box: tuple[float, float, float, float], class_id: int = 0, score: float = 0.9) -> Detection:
    return Detection(class_id=class_id, label=f"c{class_id}", score=score, box=box)


def test_box_edges_take_the_class_colour_and_inside_stays_untouched() -> None:
    image = np.zeros((100, 120, 3), np.uint8)
    style = BoxStyle(show_label=False, show_score=False, line_width=2)
    out = draw_detections(image, [_det((20, 30, 80, 70), class_id=2)], style=style)
    colour = class_colour(2)
    assert tuple(out[30, 50]) == colour  # top edge
    assert tuple(out[70, 50]) == colour  # bottom edge
    assert tuple(out[50, 20]) == colour  # left edge
    assert tuple(out[50, 80]) == colour  # right edge
    assert tuple(out[50, 50]) == (0, 0, 0)  # inside
    assert tuple(out[5, 5]) == (0, 0, 0)  # outside
    assert image.sum() == 0, "the input array must not be modified"


def test_fixed_style_colour_overrides_the_palette() -> None:
    image = np.full((60, 60, 3), 255, np.uint8)
    style = BoxStyle(colour=(1, 2, 3), show_label=False, show_score=False)
    out = draw_detections(image, [_det((10, 10, 50, 50), class_id=5)], style=style)
    assert tuple(out[10, 30]) == (1, 2, 3)


def test_dashed_style_leaves_gaps_along_the_edge() -> None:
    image = np.zeros((80, 200, 3), np.uint8)
    style = BoxStyle(colour=(255, 0, 0), dash=6, line_width=1, show_label=False, show_score=False)
    out = draw_detections(image, [_det((10, 20, 190, 60))], style=style)
    top = out[20, 10:190, 0]
    assert (top == 255).any() and (top == 0).any()


def test_label_is_drawn_above_the_box_in_the_box_colour() -> None:
    image = np.zeros((100, 200, 3), np.uint8)
    out = draw_detections(image, [_det((40, 50, 150, 90), class_id=1)])
    band = out[30:49, 40:100].reshape(-1, 3)
    assert (band == np.array(class_colour(1))).all(axis=1).sum() > 50
    assert CANDIDATE_STYLE.label_below


def test_draw_rejects_non_rgb_input() -> None:
    with pytest.raises(InvalidInputError, match="HxWx3 uint8"):
        draw_detections(np.zeros((10, 10), np.uint8), [])


def test_style_validates_its_fields() -> None:
    with pytest.raises(ConfigError, match="line_width"):
        BoxStyle(line_width=0)


def test_contact_sheet_grid_places_tiles_and_writes_png(tmp_path) -> None:
    tiles = [np.full((48, 64, 3), v, np.uint8) for v in (50, 100, 150, 200, 250)]
    layout = SheetLayout(columns=2, tile_width=64, gap=4)
    sheet = contact_sheet(tiles, title="model x", captions=[f"#{i}" for i in range(5)], layout=layout)
    rows = 3
    title_h = layout.title_size + 14
    caption_h = layout.caption_size + 6
    assert sheet.shape[1] == 2 * 64 + 3 * 4
    assert sheet.shape[0] == title_h + rows * (48 + caption_h) + (rows + 1) * 4
    assert tuple(sheet[title_h + 4 + 10, 4 + 10]) == (50, 50, 50)  # first tile, top-left cell
    assert tuple(sheet[title_h + 4 + 10, 4 + 64 + 4 + 10]) == (100, 100, 100)  # second, top-right
    path = save_png(tmp_path / "sheet" / "s.png", sheet)
    with Image.open(path) as img:
        assert img.size == (sheet.shape[1], sheet.shape[0])
    assert [p.name for p in path.parent.iterdir()] == ["s.png"]


def test_contact_sheet_requires_matching_captions() -> None:
    with pytest.raises(InvalidInputError, match="captions"):
        contact_sheet([np.zeros((8, 8, 3), np.uint8)], captions=["a", "b"])
