"""Comparison with golden: known perturbations give the expected pass or fail."""

from __future__ import annotations

import dataclasses

import pytest

from edge_ai_ros.bags.fingerprint import BagIdentity
from edge_ai_ros.errors import ConfigError
from edge_ai_ros.replay.compare import Tolerances, box_iou, compare_runs, match_detections
from edge_ai_ros.replay.golden import GoldenFile, ModelIdentity, make_golden
from edge_ai_ros.results import Detection, FrameDetections

CAR = Detection(class_id=0, label="car", score=0.9, box=(0.0, 0.0, 100.0, 100.0))
PERSON = Detection(class_id=1, label="person", score=0.6, box=(200.0, 50.0, 240.0, 150.0))
BAG = BagIdentity(name="b", topic="/t", fingerprint="sha256:0", frame_count=3)
MODEL = ModelIdentity(model_id="m", labels=("car", "person"))


def _run(frames: list[tuple[Detection, ...]]) -> GoldenFile:
    return make_golden(model=MODEL, bag=BAG, frames=[
        FrameDetections(index=i, stamp_ns=1000 + i, detections=d) for i, d in enumerate(frames)])


GOLDEN = _run([(CAR, PERSON), (CAR,), ()])


def _shift(det: Detection, dx: float) -> Detection:
    x1, y1, x2, y2 = det.box
    return dataclasses.replace(det, box=(x1 + dx, y1, x2 + dx, y2))


def test_iou_of_known_boxes() -> None:
    assert box_iou((0, 0, 10, 10), (0, 0, 10, 10)) == 1.0
    assert box_iou((0, 0, 10, 10), (5, 0, 15, 10)) == pytest.approx(50 / 150)
    assert box_iou((0, 0, 10, 10), (20, 20, 30, 30)) == 0.0


def test_identical_run_passes_with_perfect_metrics() -> None:
    summary = compare_runs(GOLDEN, GOLDEN, Tolerances())
    assert summary.passed and summary.frames_failed == 0
    assert summary.precision == summary.recall == 1.0
    assert summary.map50 == pytest.approx(1.0)
    assert summary.worst(3) == ()


@pytest.mark.parametrize("dx,passes", [(10.0, True), (40.0, False)])  # IoU 0.818 and 0.429 against min 0.5
def test_shifted_box_passes_below_and_fails_above_the_iou_tolerance(dx: float, passes: bool) -> None:
    candidate = _run([(_shift(CAR, dx), PERSON), (CAR,), ()])
    summary = compare_runs(GOLDEN, candidate, Tolerances(min_iou=0.5))
    assert summary.passed is passes
    frame = summary.frames[0]
    if not passes:
        assert frame.missing == (CAR,) and len(frame.extra) == 1 and summary.worst(1)[0].index == 0


def test_missing_detection_fails_unless_allowed() -> None:
    candidate = _run([(CAR,), (CAR,), ()])
    strict = compare_runs(GOLDEN, candidate, Tolerances())
    assert not strict.passed and strict.frames[0].missing == (PERSON,)
    assert strict.recall == pytest.approx(2 / 3) and strict.precision == 1.0
    assert compare_runs(GOLDEN, candidate, Tolerances(max_missing_per_frame=1)).passed


def test_extra_detection_fails_unless_allowed_or_below_the_ignore_score() -> None:
    ghost = Detection(class_id=1, label="person", score=0.3, box=(400.0, 400.0, 420.0, 440.0))
    candidate = _run([(CAR, PERSON), (CAR, ghost), ()])
    strict = compare_runs(GOLDEN, candidate, Tolerances())
    assert not strict.passed and strict.frames[1].extra == (ghost,)
    assert strict.precision == pytest.approx(3 / 4)
    assert compare_runs(GOLDEN, candidate, Tolerances(max_extra_per_frame=1)).passed
    assert compare_runs(GOLDEN, candidate, Tolerances(ignore_unmatched_below=0.35)).passed


@pytest.mark.parametrize("delta,passes", [(0.04, True), (0.2, False)])
def test_score_change_beyond_tolerance_fails(delta: float, passes: bool) -> None:
    candidate = _run([(dataclasses.replace(CAR, score=CAR.score - delta), PERSON), (CAR,), ()])
    summary = compare_runs(GOLDEN, candidate, Tolerances(max_score_diff=0.05))
    assert summary.passed is passes
    assert len(summary.frames[0].score_changes) == (0 if passes else 1)


def test_wrong_class_is_missing_and_extra() -> None:
    as_person = dataclasses.replace(CAR, class_id=1, label="person")
    summary = compare_runs(GOLDEN, _run([(as_person, PERSON), (CAR,), ()]), Tolerances())
    assert summary.frames[0].missing == (CAR,) and summary.frames[0].extra == (as_person,)


def test_frame_without_output_fails_and_is_counted() -> None:
    candidate = make_golden(model=MODEL, bag=BAG, frames=GOLDEN.frames[:2])
    summary = compare_runs(GOLDEN, candidate, Tolerances())
    assert summary.frames_without_output == 1 and not summary.passed
    assert not summary.frames[2].has_output


def test_failed_frame_fraction_tolerance() -> None:
    candidate = _run([(CAR,), (CAR,), ()])  # one of three frames fails
    assert not compare_runs(GOLDEN, candidate, Tolerances(max_failed_frame_fraction=0.3)).passed
    assert compare_runs(GOLDEN, candidate, Tolerances(max_failed_frame_fraction=0.34)).passed


def test_matching_is_one_to_one() -> None:
    pairs, missing, extra = match_detections([CAR], [CAR, _shift(CAR, 1.0)], 0.5)
    assert len(pairs) == 1 and pairs[0].iou == 1.0 and missing == [] and len(extra) == 1


@pytest.mark.parametrize("kwargs,field", [
    ({"min_iou": 0.0}, "min_iou"), ({"max_score_diff": 2.0}, "max_score_diff"),
    ({"max_missing_per_frame": -1}, "max_missing"), ({"max_failed_frame_fraction": 1.5}, "max_failed_frame_fraction"),
])
def test_bad_tolerances_are_refused(kwargs: dict[str, float], field: str) -> None:
    with pytest.raises(ConfigError, match=field):
        Tolerances(**kwargs)
