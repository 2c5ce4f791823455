"""Mask coefficients x prototypes -> one uint8 instance-id mask of the original image.

Pixel value k (1..255) is the k-th detection of the frame (the order they are published in),
0 is no instance. Where instances overlap, the higher-scored one (listed first) wins. Each
original pixel centre is mapped through the letterbox into input pixels, then into the
prototype grid (nearest cell); the instance is where sigmoid(coefficients . prototypes) is
above the threshold inside its box (the box crop of Ultralytics' process_mask).
"""

from __future__ import annotations

import math

import numpy as np

from edge_ai_ros.preprocess import LetterboxTransform

MAX_INSTANCES = 255  # instance ids must fit the uint8 (mono8) mask


def instance_mask(coefficients: np.ndarray, prototypes: np.ndarray, boxes: np.ndarray,
                  transform: LetterboxTransform, threshold: float) -> np.ndarray:
    """coefficients [K, M], prototypes [M, h, w], boxes [K, 4] in original pixels -> uint8 HxW."""
    mask = np.zeros((transform.orig_height, transform.orig_width), dtype=np.uint8)
    logit = math.log(threshold / (1.0 - threshold)) if 0.0 < threshold < 1.0 else 0.0
    count = min(coefficients.shape[0], MAX_INSTANCES)
    for k in range(count):
        x1, y1, x2, y2 = (int(v) for v in (np.floor(boxes[k, 0]), np.floor(boxes[k, 1]),
                                           np.ceil(boxes[k, 2]), np.ceil(boxes[k, 3])))
        if x2 <= x1 or y2 <= y1:
            continue
        rows = _cells(np.arange(y1, y2), transform.scale_y, transform.pad_y, transform.input_height,
                      prototypes.shape[1])
        cols = _cells(np.arange(x1, x2), transform.scale_x, transform.pad_x, transform.input_width,
                      prototypes.shape[2])
        window = np.tensordot(coefficients[k].astype(np.float32), prototypes[:, rows[:, None], cols[None, :]],
                              axes=1)
        region = mask[y1:y2, x1:x2]
        region[(window > logit) & (region == 0)] = k + 1
    return mask


def _cells(pixels: np.ndarray, scale: float, pad: float, input_size: int, cells: int) -> np.ndarray:
    """Prototype cell of each original pixel index along one axis (pixel centres, nearest)."""
    centres = (pixels.astype(np.float64) + 0.5) * scale + pad
    stride = input_size / cells if input_size > 0 else 1.0
    return np.clip(np.floor(centres / stride), 0, cells - 1).astype(np.intp)
