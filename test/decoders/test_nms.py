"""NMS: hand-computed suppression cases."""

from __future__ import annotations

import numpy as np

from edge_ai_ros.decoders import nms as nms_module
from edge_ai_ros.decoders.nms import batched_nms, box_iou, nms


def test_iou_hand_computed() -> None:
    box = np.array([0, 0, 10, 10], np.float32)
    boxes = np.array([[0, 0, 10, 10], [5, 0, 15, 10], [20, 20, 30, 30], [0, 0, 0, 0]], np.float32)
    np.testing.assert_allclose(box_iou(box, boxes), [1.0, 50 / 150, 0.0, 0.0])


def test_overlapping_lower_score_is_suppressed() -> None:
    boxes = np.array([[0, 0, 10, 10], [1, 0, 11, 10], [50, 50, 60, 60]], np.float32)  # IoU(0,1)=90/110
    scores = np.array([0.8, 0.9, 0.5], np.float32)
    assert nms(boxes, scores, 0.5, 100).tolist() == [1, 2]


def test_overlap_below_threshold_is_kept() -> None:
    boxes = np.array([[0, 0, 10, 10], [5, 0, 15, 10]], np.float32)  # IoU = 1/3
    scores = np.array([0.9, 0.8], np.float32)
    assert nms(boxes, scores, 0.45, 100).tolist() == [0, 1]
    assert nms(boxes, scores, 0.30, 100).tolist() == [0]


def test_chain_suppression_is_greedy() -> None:
    # A overlaps B, B overlaps C, A does not overlap C: greedy keeps A and C.
    boxes = np.array([[0, 0, 10, 10], [4, 0, 14, 10], [8, 0, 18, 10]], np.float32)
    scores = np.array([0.9, 0.8, 0.7], np.float32)
    assert nms(boxes, scores, 0.4, 100).tolist() == [0, 2]


def test_max_keep_stops_early() -> None:
    boxes = np.array([[i * 20, 0, i * 20 + 10, 10] for i in range(5)], np.float32)
    scores = np.array([0.1, 0.5, 0.3, 0.9, 0.2], np.float32)
    assert nms(boxes, scores, 0.5, 2).tolist() == [3, 1]


def test_class_aware_does_not_suppress_across_classes() -> None:
    boxes = np.array([[0, 0, 10, 10], [0, 0, 10, 10], [0, 0, 10, 10]], np.float32)
    scores = np.array([0.9, 0.8, 0.7], np.float32)
    classes = np.array([0, 1, 0])
    assert batched_nms(boxes, scores, classes, 0.5, 100).tolist() == [0, 1]


def test_empty_input() -> None:
    empty = np.zeros((0, 4), np.float32)
    assert batched_nms(empty, np.zeros(0, np.float32), np.zeros(0, np.int64), 0.5, 10).tolist() == []


def _naive_nms(boxes: np.ndarray, scores: np.ndarray, threshold: float) -> list[int]:
    order = list(np.argsort(-scores, kind="stable"))
    keep: list[int] = []
    while order:
        best = order.pop(0)
        keep.append(int(best))
        order = [j for j in order if box_iou(boxes[best], boxes[j : j + 1])[0] <= threshold]
    return keep


def test_matches_a_naive_greedy_reference_on_random_boxes() -> None:
    rng = np.random.default_rng(0)
    for _ in range(5):
        corners = rng.random((80, 2)) * 100
        boxes = np.concatenate([corners, corners + rng.random((80, 2)) * 30 + 1], axis=1).astype(np.float32)
        scores = rng.random(80).astype(np.float32)
        assert nms(boxes, scores, 0.45, 1000).tolist() == _naive_nms(boxes, scores, 0.45)


def test_matrix_and_sweep_paths_keep_the_same_boxes() -> None:
    """Above _MATRIX_LIMIT candidates the sweep runs; both must give the naive greedy result."""
    rng = np.random.default_rng(1)
    n = nms_module._MATRIX_LIMIT + 88
    corners = rng.random((n, 2)) * 300
    boxes = np.concatenate([corners, corners + rng.random((n, 2)) * 60 + 1], axis=1).astype(np.float32)
    scores = rng.random(n).astype(np.float32)
    swept = nms(boxes, scores, 0.45, 1000).tolist()
    assert swept == _naive_nms(boxes, scores, 0.45)
    head = np.argsort(-scores, kind="stable")[: nms_module._MATRIX_LIMIT]  # matrix path on a subset
    assert nms(boxes[head], scores[head], 0.45, 1000).tolist() == _naive_nms(boxes[head], scores[head], 0.45)
    assert nms(boxes, scores, 0.45, 7).tolist() == swept[:7]
