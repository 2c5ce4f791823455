"""Mean average precision at one IoU threshold (PASCAL VOC style, all-point interpolation).

numpy only, so the compiler's accuracy gate and bag replay can use it without torch. Ground
truth may be real labels or another model's outputs (INT8 against FP32 as pseudo labels).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from edge_ai_ros.errors import InvalidInputError

Prediction = tuple[np.ndarray, np.ndarray, np.ndarray]  # boxes [K, 4] x1y1x2y2, scores [K], class ids [K]
GroundTruth = tuple[np.ndarray, np.ndarray]  # boxes [K, 4] x1y1x2y2, class ids [K]


@dataclass(frozen=True, kw_only=True)
class MapResult:
    """mAP over the classes that have ground truth; per-class AP is NaN for a class without any."""

    map: float
    per_class_ap: tuple[float, ...]
    num_ground_truth: tuple[int, ...]
    num_predictions: tuple[int, ...]
    iou_threshold: float

    def as_dict(self, labels: Sequence[str] | None = None) -> dict[str, object]:
        names = list(labels) if labels is not None else [str(i) for i in range(len(self.per_class_ap))]
        return {
            "map": self.map,
            "iou_threshold": self.iou_threshold,
            "per_class_ap": {n: (None if np.isnan(ap) else ap) for n, ap in zip(names, self.per_class_ap, strict=True)},
            "num_ground_truth": dict(zip(names, self.num_ground_truth, strict=True)),
        }


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise IoU of boxes a [N, 4] and b [M, 4] (x1 y1 x2 y2) -> [N, M]."""
    a = np.asarray(a, np.float64).reshape(-1, 4)
    b = np.asarray(b, np.float64).reshape(-1, 4)
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(rb - lt, 0.0, None), axis=2)
    area_a = np.prod(np.clip(a[:, 2:] - a[:, :2], 0.0, None), axis=1)
    area_b = np.prod(np.clip(b[:, 2:] - b[:, :2], 0.0, None), axis=1)
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1.0), 0.0)


def average_precision(recall: np.ndarray, precision: np.ndarray) -> float:
    """Area under the precision envelope (precision made monotone from the right)."""
    r = np.concatenate(([0.0], recall, [1.0]))
    p = np.concatenate(([0.0], precision, [0.0]))
    p = np.maximum.accumulate(p[::-1])[::-1]
    steps = np.nonzero(r[1:] != r[:-1])[0]
    return float(np.sum((r[steps + 1] - r[steps]) * p[steps + 1]))


def _check_image(index: int, pred: Prediction, truth: GroundTruth) -> None:
    boxes, scores, classes = pred
    gt_boxes, gt_classes = truth
    if np.asarray(boxes).reshape(-1, 4).shape[0] != len(scores) or len(scores) != len(classes):
        raise InvalidInputError(f"predictions[{index}]", "boxes, scores and class ids differ in length",
                                fix="pass boxes [K, 4], scores [K], class ids [K]")
    if np.asarray(gt_boxes).reshape(-1, 4).shape[0] != len(gt_classes):
        raise InvalidInputError(f"ground_truth[{index}]", "boxes and class ids differ in length",
                                fix="pass boxes [K, 4], class ids [K]")


def _match_image(pred: Prediction, truth: GroundTruth, cls: int,
                 iou_threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """(scores, true-positive flags) of one image's predictions of ``cls``, matched greedily by score."""
    boxes, scores, classes = (np.asarray(x) for x in pred)
    keep = classes == cls
    boxes, scores = boxes.reshape(-1, 4)[keep], scores[keep].astype(np.float64)
    order = np.argsort(-scores, kind="stable")
    boxes, scores = boxes[order], scores[order]
    gt_boxes = np.asarray(truth[0]).reshape(-1, 4)[np.asarray(truth[1]) == cls]
    hits = np.zeros(len(scores), bool)
    if len(gt_boxes) and len(scores):
        iou = box_iou(boxes, gt_boxes)
        taken = np.zeros(len(gt_boxes), bool)
        for i in range(len(scores)):
            best = int(np.argmax(iou[i]))
            if iou[i, best] >= iou_threshold and not taken[best]:
                taken[best] = hits[i] = True
    return scores, hits


def mean_average_precision(predictions: Sequence[Prediction], ground_truth: Sequence[GroundTruth], *,
                           num_classes: int, iou_threshold: float = 0.5) -> MapResult:
    """mAP@``iou_threshold`` over images; lists are per image, in the same order."""
    if len(predictions) != len(ground_truth):
        raise InvalidInputError("predictions", f"{len(predictions)} images of predictions for "
                                f"{len(ground_truth)} images of ground truth", fix="pass one entry per image to both")
    for index, (pred, truth) in enumerate(zip(predictions, ground_truth, strict=True)):
        _check_image(index, pred, truth)
    aps, n_gt, n_pred = [], [], []
    for cls in range(num_classes):
        matched = [_match_image(p, t, cls, iou_threshold) for p, t in zip(predictions, ground_truth, strict=True)]
        scores = np.concatenate([m[0] for m in matched]) if matched else np.zeros(0)
        hits = np.concatenate([m[1] for m in matched]) if matched else np.zeros(0, bool)
        total = int(sum(int(np.count_nonzero(np.asarray(t[1]) == cls)) for t in ground_truth))
        n_gt.append(total)
        n_pred.append(len(scores))
        if total == 0:
            aps.append(float("nan"))
            continue
        order = np.argsort(-scores, kind="stable")
        tp = np.cumsum(hits[order])
        fp = np.cumsum(~hits[order])
        aps.append(average_precision(tp / total, tp / np.maximum(tp + fp, 1)))
    valid = [ap for ap in aps if not np.isnan(ap)]
    return MapResult(map=float(np.mean(valid)) if valid else 0.0, per_class_ap=tuple(aps),
                     num_ground_truth=tuple(n_gt), num_predictions=tuple(n_pred), iou_threshold=iou_threshold)
