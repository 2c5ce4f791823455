"""Greedy non-maximum suppression in numpy, per class.

Class-aware NMS uses the offset trick: each class's boxes are shifted by a distance larger
than any coordinate, so boxes of different classes never overlap and one pass suppresses
within classes only.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def box_iou(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """IoU of one x1y1x2y2 box [4] against boxes [K, 4] -> [K]."""
    x1 = np.maximum(box[0], boxes[:, 0])
    y1 = np.maximum(box[1], boxes[:, 1])
    x2 = np.minimum(box[2], boxes[:, 2])
    y2 = np.minimum(box[3], boxes[:, 3])
    inter = np.clip(x2 - x1, 0.0, None) * np.clip(y2 - y1, 0.0, None)
    area = (box[2] - box[0]) * (box[3] - box[1])
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    union = area + areas - inter
    return np.where(union > 0.0, inter / np.maximum(union, 1e-12), 0.0)


# Up to this many candidates NMS compares all pairs at once (a 512 x 512 matrix is 2 MB);
# more (an untrained model, a threshold of 0) are swept one kept box at a time.
_MATRIX_LIMIT = 512


def nms(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float, max_keep: int) -> np.ndarray:
    """Indices of kept boxes, best score first; a box is dropped if IoU > threshold with a kept one."""
    order = np.argsort(-scores, kind="stable")
    x1, y1, x2, y2 = (np.ascontiguousarray(boxes[order, k], dtype=np.float64) for k in range(4))
    areas = (x2 - x1) * (y2 - y1)
    if order.shape[0] <= _MATRIX_LIMIT:
        suppress = _all_pairs(x1, y1, x2, y2, areas, iou_threshold)
    else:
        suppress = _sweep(x1, y1, x2, y2, areas, iou_threshold)
    return order[np.asarray(_greedy(order.shape[0], max_keep, suppress), dtype=np.int64)]


Suppressor = Callable[[int, np.ndarray], None]  # (kept box i, suppressed mask) -> marks boxes i overlaps


def _greedy(count: int, max_keep: int, suppress: Suppressor) -> list[int]:
    """Walk the boxes best first; keep each one not yet suppressed and suppress what it overlaps."""
    suppressed = np.zeros(count, dtype=bool)
    keep: list[int] = []
    for i in range(count):
        if suppressed[i]:
            continue
        keep.append(i)
        if len(keep) >= max_keep:
            break
        suppress(i, suppressed)
    return keep


def _all_pairs(x1: np.ndarray, y1: np.ndarray, x2: np.ndarray, y2: np.ndarray, areas: np.ndarray,
               iou_threshold: float) -> Suppressor:
    """Every pairwise overlap in a few numpy calls up front; each kept box then ORs one row.

    Why: a frame of the demo detector has ~40 candidates and ~10 kept boxes; the sweep's six
    numpy calls per kept box cost more than this whole matrix (0.13 -> 0.04 ms here).
    """
    width = np.clip(np.minimum(x2[:, None], x2[None, :]) - np.maximum(x1[:, None], x1[None, :]), 0.0, None)
    height = np.clip(np.minimum(y2[:, None], y2[None, :]) - np.maximum(y1[:, None], y1[None, :]), 0.0, None)
    inter = width * height
    union = areas[:, None] + areas[None, :] - inter
    overlaps = inter > iou_threshold * np.maximum(union, 1e-12)

    def suppress(i: int, suppressed: np.ndarray) -> None:
        suppressed |= overlaps[i]  # earlier rows are already decided, so marking them is harmless

    return suppress


def _sweep(x1: np.ndarray, y1: np.ndarray, x2: np.ndarray, y2: np.ndarray, areas: np.ndarray,
           iou_threshold: float) -> Suppressor:
    """Each kept box against the boxes after it through slices (views, no gathers): memory O(n)."""

    def suppress(i: int, suppressed: np.ndarray) -> None:
        tail = slice(i + 1, None)
        width = np.maximum(np.minimum(x2[i], x2[tail]) - np.maximum(x1[i], x1[tail]), 0.0)
        inter = width * np.maximum(np.minimum(y2[i], y2[tail]) - np.maximum(y1[i], y1[tail]), 0.0)
        union = areas[i] + areas[tail] - inter
        suppressed[tail] |= inter > iou_threshold * np.maximum(union, 1e-12)

    return suppress


def batched_nms(
    boxes: np.ndarray, scores: np.ndarray, class_ids: np.ndarray, iou_threshold: float, max_keep: int,
) -> np.ndarray:
    """Class-aware NMS: boxes of different classes never suppress each other."""
    if boxes.shape[0] == 0:
        return np.zeros(0, dtype=np.int64)
    span = float(np.abs(boxes).max()) + 1.0
    shifted = boxes + (class_ids.astype(boxes.dtype) * span)[:, None]
    return nms(shifted, scores, iou_threshold, max_keep)
