"""Candidate run vs golden: per-frame matching by class and IoU, pass/fail by tolerances.

Each frame's detections are matched greedily per class by IoU (highest first), the same
rule mAP uses, so "matched" here and a true positive in the summary mean the same thing.
Unmatched golden detections are *missing*, unmatched candidate ones *extra*; matched
pairs whose scores differ by more than the tolerance are *score changes*.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from edge_ai_ros.errors import ConfigError
from edge_ai_ros.metrics.map import mean_average_precision
from edge_ai_ros.replay.golden import GoldenFile
from edge_ai_ros.results import Detection, FrameDetections


@dataclass(frozen=True, kw_only=True)
class Tolerances:
    """What a candidate may differ from golden and still pass.

    ignore_unmatched_below: a missing or extra detection scoring below this is not counted
    (an INT8 engine flips detections that sit at the decoder's score threshold).
    """

    min_iou: float = 0.5
    max_score_diff: float = 0.05
    max_missing_per_frame: int = 0
    max_extra_per_frame: int = 0
    max_failed_frame_fraction: float = 0.0
    ignore_unmatched_below: float = 0.0

    def __post_init__(self) -> None:
        if not 0.0 < self.min_iou <= 1.0:
            raise ConfigError("tolerances.min_iou", f"must be in (0, 1], got {self.min_iou}")
        if not 0.0 <= self.max_score_diff <= 1.0:
            raise ConfigError("tolerances.max_score_diff", f"must be in [0, 1], got {self.max_score_diff}")
        if self.max_missing_per_frame < 0 or self.max_extra_per_frame < 0:
            raise ConfigError("tolerances.max_missing/extra_per_frame", "must be >= 0")
        if not 0.0 <= self.max_failed_frame_fraction <= 1.0:
            raise ConfigError(
                "tolerances.max_failed_frame_fraction", f"must be in [0, 1], got {self.max_failed_frame_fraction}",
            )


@dataclass(frozen=True, kw_only=True)
class MatchedPair:
    golden: Detection
    candidate: Detection
    iou: float


@dataclass(frozen=True, kw_only=True)
class FrameComparison:
    index: int
    stamp_ns: int
    matched: tuple[MatchedPair, ...]
    missing: tuple[Detection, ...]  # in golden, not in candidate
    extra: tuple[Detection, ...]  # in candidate, not in golden
    score_changes: tuple[MatchedPair, ...]
    has_output: bool  # False when the candidate run produced no message for this frame
    passed: bool

    @property
    def difference(self) -> float:
        """How far this frame is from golden: counts, then (1 - IoU) and score drift of matches."""
        drift = sum((1.0 - p.iou) + abs(p.golden.score - p.candidate.score) for p in self.matched)
        return float(len(self.missing) + len(self.extra) + len(self.score_changes)) + drift + (0 if self.has_output else 1)


@dataclass(frozen=True, kw_only=True)
class ComparisonSummary:
    frames: tuple[FrameComparison, ...]
    tolerances: Tolerances
    precision: float  # matched / candidate detections
    recall: float  # matched / golden detections
    map50: float  # candidate scored against golden as ground truth
    frames_failed: int
    frames_without_output: int
    passed: bool

    def worst(self, count: int) -> tuple[FrameComparison, ...]:
        ranked = sorted(self.frames, key=lambda f: (-f.difference, f.index))
        return tuple(f for f in ranked[:count] if f.difference > 1e-6)  # float noise is no difference


def box_iou(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def match_detections(
    golden: Sequence[Detection], candidate: Sequence[Detection], min_iou: float,
) -> tuple[list[MatchedPair], list[Detection], list[Detection]]:
    """Greedy per-class matching, best IoU first; returns (pairs, missing, extra)."""
    pairs: list[MatchedPair] = []
    used_g: set[int] = set()
    used_c: set[int] = set()
    options = [
        (box_iou(g.box, c.box), gi, ci)
        for gi, g in enumerate(golden) for ci, c in enumerate(candidate) if g.class_id == c.class_id
    ]
    for iou, gi, ci in sorted(options, key=lambda t: (-t[0], t[1], t[2])):
        if iou < min_iou:
            break
        if gi in used_g or ci in used_c:
            continue
        used_g.add(gi)
        used_c.add(ci)
        pairs.append(MatchedPair(golden=golden[gi], candidate=candidate[ci], iou=iou))
    missing = [g for i, g in enumerate(golden) if i not in used_g]
    extra = [c for i, c in enumerate(candidate) if i not in used_c]
    return pairs, missing, extra


def compare_frame(golden: FrameDetections, candidate: FrameDetections | None, tol: Tolerances) -> FrameComparison:
    cand = candidate.detections if candidate is not None else ()
    pairs, missing, extra = match_detections(golden.detections, cand, tol.min_iou)
    counted_missing = [d for d in missing if d.score >= tol.ignore_unmatched_below]
    counted_extra = [d for d in extra if d.score >= tol.ignore_unmatched_below]
    changes = [p for p in pairs if abs(p.golden.score - p.candidate.score) > tol.max_score_diff]
    passed = (
        candidate is not None and len(counted_missing) <= tol.max_missing_per_frame
        and len(counted_extra) <= tol.max_extra_per_frame and not changes
    )
    return FrameComparison(
        index=golden.index, stamp_ns=golden.stamp_ns, matched=tuple(pairs), missing=tuple(missing),
        extra=tuple(extra), score_changes=tuple(changes), has_output=candidate is not None, passed=passed,
    )


def _arrays(dets: Sequence[Detection]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    boxes = np.asarray([d.box for d in dets], np.float64).reshape(-1, 4)
    return boxes, np.asarray([d.score for d in dets], np.float64), np.asarray([d.class_id for d in dets], np.int64)


def _map50(golden: GoldenFile, candidate: GoldenFile) -> float:
    """mAP@0.5 of the candidate with golden's detections as (pseudo) ground truth."""
    by_stamp = candidate.by_stamp()
    truths, preds = [], []
    for frame in golden.frames:
        boxes, _, classes = _arrays(frame.detections)
        truths.append((boxes, classes))
        cand = by_stamp.get(frame.stamp_ns)
        preds.append(_arrays(cand.detections if cand is not None else ()))
    if not any(f.detections for f in golden.frames):  # no ground truth: perfect only if nothing was found
        return 0.0 if any(f.detections for f in candidate.frames) else 1.0
    ids = [d.class_id for f in (*golden.frames, *candidate.frames) for d in f.detections]
    num_classes = max(len(golden.model.labels), max(ids) + 1)
    return mean_average_precision(preds, truths, num_classes=num_classes, iou_threshold=0.5).map


def compare_runs(golden: GoldenFile, candidate: GoldenFile, tol: Tolerances) -> ComparisonSummary:
    """Compare every golden frame with the candidate frame of the same stamp."""
    by_stamp = candidate.by_stamp()
    frames = tuple(compare_frame(g, by_stamp.get(g.stamp_ns), tol) for g in golden.frames)
    matched = sum(len(f.matched) for f in frames)
    n_golden = sum(len(f.detections) for f in golden.frames)
    n_cand = sum(len(f.matched) + len(f.extra) for f in frames)
    failed = sum(1 for f in frames if not f.passed)
    allowed = int(np.floor(tol.max_failed_frame_fraction * len(frames) + 1e-9))
    return ComparisonSummary(
        frames=frames, tolerances=tol,
        precision=matched / n_cand if n_cand else 1.0,
        recall=matched / n_golden if n_golden else 1.0,
        map50=_map50(golden, candidate),
        frames_failed=failed, frames_without_output=sum(1 for f in frames if not f.has_output),
        passed=failed <= allowed and len(frames) > 0,
    )
