"""mAP@0.5 against hand-computed cases."""

from __future__ import annotations

import math

import numpy as np
import pytest

from edge_ai_ros.errors import InvalidInputError
from edge_ai_ros.metrics.map import average_precision, box_iou, mean_average_precision

A = [0.0, 0.0, 10.0, 10.0]
B = [20.0, 20.0, 30.0, 30.0]
C = [50.0, 50.0, 70.0, 60.0]


def _pred(boxes: list[list[float]], scores: list[float], classes: list[int]) -> tuple[np.ndarray, ...]:
    return np.array(boxes, np.float32).reshape(-1, 4), np.array(scores, np.float32), np.array(classes, np.int64)


def _gt(boxes: list[list[float]], classes: list[int]) -> tuple[np.ndarray, np.ndarray]:
    return np.array(boxes, np.float32).reshape(-1, 4), np.array(classes, np.int64)


def test_box_iou_hand_values() -> None:
    iou = box_iou(np.array([A]), np.array([A, [5.0, 0.0, 15.0, 10.0], B]))
    np.testing.assert_allclose(iou, [[1.0, 50.0 / 150.0, 0.0]])


def test_perfect_predictions_give_one() -> None:
    preds = [_pred([A, B], [0.9, 0.8], [0, 1]), _pred([C], [0.7], [2])]
    truth = [_gt([A, B], [0, 1]), _gt([C], [2])]
    result = mean_average_precision(preds, truth, num_classes=3)
    assert result.map == pytest.approx(1.0)
    assert result.per_class_ap == pytest.approx((1.0, 1.0, 1.0))


def test_one_missed_box_halves_recall() -> None:
    # class 0 has two boxes, one found: recall 0.5 at precision 1 -> AP 0.5; class 1 perfect -> mAP 0.75
    result = mean_average_precision([_pred([A, B], [0.9, 0.8], [0, 1])], [_gt([A, B, C], [0, 1, 0])], num_classes=2)
    assert result.per_class_ap == pytest.approx((0.5, 1.0))
    assert result.map == pytest.approx(0.75)


def test_false_positive_ranked_first_lowers_ap() -> None:
    # ranking: FP (0.95), TP (0.9) -> precision 0.5 at recall 1 -> AP 0.5
    result = mean_average_precision([_pred([B, A], [0.95, 0.9], [0, 0])], [_gt([A], [0])], num_classes=1)
    assert result.map == pytest.approx(0.5)


def test_duplicate_detection_counts_as_false_positive() -> None:
    # TP (0.9), duplicate (0.8), TP for the second box (0.7): recall 0.5@P1, 1.0@P2/3 -> 0.5 + 0.5 * 2/3
    preds = [_pred([A, A, B], [0.9, 0.8, 0.7], [0, 0, 0])]
    result = mean_average_precision(preds, [_gt([A, B], [0, 0])], num_classes=1)
    assert result.map == pytest.approx(0.5 + 0.5 * 2.0 / 3.0)


def test_wrong_class_is_no_match() -> None:
    result = mean_average_precision([_pred([A], [0.9], [1])], [_gt([A], [0])], num_classes=2)
    assert result.per_class_ap[0] == 0.0
    assert math.isnan(result.per_class_ap[1])  # no ground truth of class 1: left out of the mean
    assert result.map == 0.0


def test_iou_below_threshold_is_no_match() -> None:
    shifted = [6.0, 0.0, 16.0, 10.0]  # IoU with A = 40/160 = 0.25
    result = mean_average_precision([_pred([shifted], [0.9], [0])], [_gt([A], [0])], num_classes=1)
    assert result.map == 0.0
    loose = mean_average_precision([_pred([shifted], [0.9], [0])], [_gt([A], [0])], num_classes=1, iou_threshold=0.2)
    assert loose.map == pytest.approx(1.0)


def test_images_without_predictions_or_truth() -> None:
    preds = [_pred([], [], []), _pred([A], [0.9], [0])]
    result = mean_average_precision(preds, [_gt([B], [0]), _gt([A], [0])], num_classes=1)
    assert result.map == pytest.approx(0.5)


def test_all_point_interpolation_uses_precision_envelope() -> None:
    ap = average_precision(np.array([0.25, 0.25, 0.5, 0.75]), np.array([1.0, 0.5, 0.67, 0.75]))
    assert ap == pytest.approx(0.25 * 1.0 + 0.25 * 0.75 + 0.25 * 0.75)


def test_mismatched_lengths_are_refused() -> None:
    with pytest.raises(InvalidInputError, match="predictions"):
        mean_average_precision([], [_gt([A], [0])], num_classes=1)
    bad = (np.zeros((2, 4)), np.zeros(1), np.zeros(2, np.int64))
    with pytest.raises(InvalidInputError, match=r"predictions\[0\]"):
        mean_average_precision([bad], [_gt([A], [0])], num_classes=1)
