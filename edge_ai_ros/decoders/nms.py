"""Greedy non-maximum suppression in numpy, per class.

Class-aware NMS uses the offset trick: each class's boxes are shifted by a distance larger
than any coordinate, so boxes of different classes never overlap and one pass suppresses
within classes only.
"""

from __future__ import annotations

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


def nms(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float, max_keep: int) -> np.ndarray:
    """Indices of kept boxes, best score first; a box is dropped if IoU > threshold with a kept one.

    Boxes are sorted once; each kept box is compared with the boxes after it through slices
    (views, no gathers), so a frame with thousands of candidates costs one numpy pass per kept box.
    """
    order = np.argsort(-scores, kind="stable")
    x1, y1, x2, y2 = (np.ascontiguousarray(boxes[order, k], dtype=np.float64) for k in range(4))
    areas = (x2 - x1) * (y2 - y1)
    suppressed = np.zeros(order.shape[0], dtype=bool)
    keep: list[int] = []
    for i in range(order.shape[0]):
        if suppressed[i]:
            continue
        keep.append(int(order[i]))
        if len(keep) >= max_keep:
            break
        tail = slice(i + 1, None)
        width = np.maximum(np.minimum(x2[i], x2[tail]) - np.maximum(x1[i], x1[tail]), 0.0)
        inter = width * np.maximum(np.minimum(y2[i], y2[tail]) - np.maximum(y1[i], y1[tail]), 0.0)
        union = areas[i] + areas[tail] - inter
        suppressed[tail] |= inter > iou_threshold * np.maximum(union, 1e-12)
    return np.asarray(keep, dtype=np.int64)


def batched_nms(
    boxes: np.ndarray, scores: np.ndarray, class_ids: np.ndarray, iou_threshold: float, max_keep: int,
) -> np.ndarray:
    """Class-aware NMS: boxes of different classes never suppress each other."""
    if boxes.shape[0] == 0:
        return np.zeros(0, dtype=np.int64)
    span = float(np.abs(boxes).max()) + 1.0
    shifted = boxes + (class_ids.astype(boxes.dtype) * span)[:, None]
    return nms(shifted, scores, iou_threshold, max_keep)
