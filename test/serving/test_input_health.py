"""Loss accounting of one image input, without a middleware (edge_ai_ros/serving/input_health.py)."""

from __future__ import annotations

import random

import pytest

from edge_ai_ros.errors import ConfigError
from edge_ai_ros.serving.input_health import (
    ERROR,
    OK,
    WARN,
    HealthThresholds,
    InputHealth,
    level_of,
    likely_cause,
)

PERIOD_NS = 33_333_333  # 30 Hz
FRAME_BYTES = 640 * 480 * 3


def _feed(health: InputHealth, indexes: list[int], jitter_ns: int = 0) -> None:
    """Frames ``indexes`` of a 30 Hz camera whose stamps wobble by up to ``jitter_ns`` (seeded)."""
    rng = random.Random(3)
    for i in indexes:
        health.frame(1_000_000_000_000 + i * PERIOD_NS + rng.randint(-jitter_ns, jitter_ns), FRAME_BYTES)


def test_every_frame_received_counts_no_loss() -> None:
    health = InputHealth()
    _feed(health, list(range(100)), jitter_ns=3_000_000)
    snap = health.snapshot()
    assert (snap.received, snap.missed_by_stamps, snap.lost) == (100, 0, 0)
    assert snap.period_s == pytest.approx(PERIOD_NS / 1e9, rel=0.25)


def test_gaps_in_the_stamps_count_the_missing_frames() -> None:
    health = InputHealth(HealthThresholds(window=30))
    kept = [i for i in range(181) if i % 3 != 2]  # a third lost
    _feed(health, kept, jitter_ns=2_000_000)
    snap = health.snapshot()
    assert snap.received == len(kept)
    closed_at = 30 * ((len(kept) - 1) // 30)  # counted up to the last closed window
    assert abs(snap.missed_by_stamps - (kept[closed_at] - closed_at)) <= 2


def test_a_late_frame_followed_by_a_burst_is_not_loss() -> None:
    health = InputHealth(HealthThresholds(window=10))
    stamps, t = [], 0
    for i in range(100):
        t += PERIOD_NS * (4 if i % 10 == 5 else 1) if i % 10 not in (6, 7, 8) else 1_000_000
        stamps.append(t)  # a 4-period stall, then three frames in a burst: the count is right
    for stamp in stamps:
        health.frame(1_000_000_000_000 + stamp, FRAME_BYTES)
    assert health.snapshot().missed_by_stamps <= 2


def test_a_pause_longer_than_the_limit_is_not_loss_and_new_publishers_restart_the_rate() -> None:
    health = InputHealth(HealthThresholds(max_step_periods=30))
    _feed(health, list(range(10)))
    _feed(health, list(range(200, 210)))  # 190 periods later: a stop, not 189 lost frames
    assert health.snapshot().missed_by_stamps == 0
    health.new_publishers()
    _feed(health, [i for i in range(40) if i != 20])  # another camera's clock: learned again, one gap
    assert health.snapshot().missed_by_stamps == 1


def test_reported_loss_rebases_on_a_new_subscription() -> None:
    health = InputHealth()
    health.lost(5)
    health.lost(3)  # an older event arriving late never lowers the total
    assert health.snapshot().lost_reported == 5
    health.restart()
    health.lost(2)  # the new subscription counts from 0 again
    assert health.snapshot().lost_reported == 7


@pytest.mark.parametrize(("received", "lost", "level"), [(100, 0, OK), (98, 1, OK), (95, 5, WARN), (50, 50, ERROR)])
def test_levels_follow_the_lost_fraction(received: int, lost: int, level: int) -> None:
    health = InputHealth()
    _feed(health, list(range(received)))
    health.lost(lost)
    assert level_of(health.snapshot(), health.thresholds, publishers=1, matched=True) == level


def test_a_publisher_that_cannot_match_is_an_error_even_without_frames() -> None:
    health = InputHealth()
    assert level_of(health.snapshot(), health.thresholds, publishers=1, matched=False) == ERROR
    assert level_of(health.snapshot(), health.thresholds, publishers=0, matched=False) == OK


def test_the_cause_names_the_fix_for_large_best_effort_frames() -> None:
    health = InputHealth()
    _feed(health, [0, 1, 2, 3, 5])
    text = likely_cause(health.snapshot(), offered_reliability="best_effort", compressed=False)
    assert "fastdds_profile.xml" in text and "900 KiB" in text
    assert "rmem_max" in likely_cause(health.snapshot(), offered_reliability="best_effort", compressed=True)


def test_thresholds_are_validated() -> None:
    with pytest.raises(ConfigError, match="warn_fraction"):
        HealthThresholds(warn_fraction=0.5, error_fraction=0.1)
