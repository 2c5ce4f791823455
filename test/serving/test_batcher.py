"""Cross-camera batcher: deadline, max batch, round robin, max age, priority shedding, counts."""

from __future__ import annotations

import threading

import pytest

from edge_ai_ros.errors import ConfigError
from edge_ai_ros.serving.batcher import Batcher, BatchPolicy

CAMS = ("front", "left", "right", "rear")


class Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t

    def advance(self, ms: float) -> None:
        self.t += ms / 1e3


def _batcher(size: int = 4, priorities: tuple[int, ...] = (), timeout_ms: float = 10.0,
             max_age_ms: float = 200.0) -> tuple[Batcher[str], Clock]:
    clock = Clock()
    policy = BatchPolicy(cameras=CAMS, priorities=priorities, batch_timeout_s=timeout_ms / 1e3,
                         max_age_s=max_age_ms / 1e3)
    return Batcher(policy, batch_size=size, clock=clock), clock


def _names(batch: list | None) -> list[str]:  # type: ignore[type-arg]
    assert batch is not None
    return [f.camera for f in batch]


def test_a_full_batch_goes_out_at_once_without_waiting_for_the_deadline() -> None:
    batcher, _ = _batcher(size=2)
    batcher.put("front", "f0")
    assert batcher.poll() is None  # one of two, deadline not reached
    batcher.put("rear", "r0")
    batch = batcher.poll()
    assert _names(batch) == ["front", "rear"] and [f.item for f in batch or []] == ["f0", "r0"]
    assert batcher.poll() is None


def test_a_partial_batch_goes_out_when_the_timeout_passes_since_the_first_frame() -> None:
    batcher, clock = _batcher(size=4, timeout_ms=10.0)
    batcher.put("front", "f0")
    clock.advance(6)
    batcher.put("left", "l0")
    clock.advance(3.9)
    assert batcher.poll() is None  # 9.9 ms after the first frame
    clock.advance(0.2)
    assert _names(batcher.poll()) == ["front", "left"]


def test_a_newer_frame_replaces_the_waiting_one_and_counts_superseded() -> None:
    batcher, clock = _batcher(size=4)
    for i in range(3):
        batcher.put("front", f"f{i}")
    clock.advance(11)
    batch = batcher.poll()
    assert batch is not None and [f.item for f in batch] == ["f2"]
    counts = batcher.stats.snapshot()["front"]
    assert counts["received"] == 3 and counts["dropped_superseded"] == 2


def test_equal_priorities_are_served_round_robin_when_more_wait_than_fit() -> None:
    batcher, _ = _batcher(size=2)
    served: list[str] = []
    for _ in range(4):
        for cam in CAMS:  # every camera always has a frame waiting
            batcher.put(cam, cam)
        served += _names(batcher.poll())
    assert served.count("front") == served.count("left") == served.count("right") == served.count("rear") == 2
    assert served[:4] == ["front", "left", "right", "rear"]  # the ones left out go first next time
    assert sum(c["dropped_shed"] for c in batcher.stats.snapshot().values()) == 0


def test_a_frame_older_than_max_age_is_dropped_too_old_and_never_handed_out() -> None:
    batcher, clock = _batcher(size=2, timeout_ms=1000.0, max_age_ms=50.0)
    batcher.put("left", "old")
    clock.advance(51)
    assert batcher.poll() is None
    batcher.put("front", "new")
    clock.advance(1000)  # the deadline passes: the new frame goes out, but it is now too old as well
    assert batcher.poll() is None
    snap = batcher.stats.snapshot()
    assert snap["left"]["dropped_too_old"] == 1 and snap["front"]["dropped_too_old"] == 1


def test_overload_sheds_lower_priority_cameras_first() -> None:
    batcher, _ = _batcher(size=2, priorities=(3, 1, 1, 2))
    for cam in CAMS:
        batcher.put(cam, cam)
    assert _names(batcher.poll()) == ["front", "rear"]  # highest priorities first
    snap = batcher.stats.snapshot()
    assert snap["left"]["dropped_shed"] == snap["right"]["dropped_shed"] == 1
    assert snap["front"]["dropped_shed"] == snap["rear"]["dropped_shed"] == 0
    assert batcher.poll() is None  # the shed frames are gone


def test_left_out_frames_of_a_priority_in_the_batch_wait_for_the_next_batch() -> None:
    batcher, _ = _batcher(size=2, priorities=(2, 1, 1, 1))
    for cam in CAMS:
        batcher.put(cam, cam)
    assert _names(batcher.poll()) == ["front", "left"]
    assert sum(c["dropped_shed"] for c in batcher.stats.snapshot().values()) == 0
    assert _names(batcher.poll()) == ["right", "rear"]  # a full batch still waits


def test_counts_and_batch_sizes() -> None:
    batcher, clock = _batcher(size=4)
    for cam in CAMS:
        batcher.put(cam, cam)
    batcher.poll()
    batcher.put("rear", "x")
    clock.advance(20)
    batcher.poll()
    sizes = batcher.stats.batch_sizes()
    assert (sizes.batches, sizes.max, sizes.mean) == (2, 4, 2.5)
    assert {c: v["received"] for c, v in batcher.stats.snapshot().items()} == {
        "front": 1, "left": 1, "right": 1, "rear": 2}


def test_take_blocks_until_the_deadline_and_wakes_on_close() -> None:
    policy = BatchPolicy(cameras=CAMS, batch_timeout_s=0.02)
    batcher: Batcher[str] = Batcher(policy, batch_size=4)
    batcher.put("front", "f")
    assert _names(batcher.take(5.0)) == ["front"]  # returned by the 20 ms deadline, not the 5 s timeout
    result: list[object] = []
    waiter = threading.Thread(target=lambda: result.append(batcher.take(30.0)))
    waiter.start()
    batcher.close()
    waiter.join(5.0)
    assert result == [None] and not waiter.is_alive()


@pytest.mark.parametrize(("kwargs", "field"), [
    ({"cameras": ()}, "cameras"),
    ({"cameras": ("front", "front")}, "cameras"),
    ({"cameras": ("front", "/abs")}, "cameras"),
    ({"cameras": ("a b",)}, "cameras"),
    ({"cameras": CAMS, "priorities": (1, 2)}, "camera_priorities"),
    ({"cameras": CAMS, "max_batch": -1}, "max_batch"),
    ({"cameras": CAMS, "batch_timeout_s": -0.001}, "batch_timeout_ms"),
    ({"cameras": CAMS, "max_age_s": 0.0}, "max_age_ms"),
])
def test_bad_policies_name_the_parameter_and_the_fix(kwargs: dict[str, object], field: str) -> None:
    with pytest.raises(ConfigError, match=rf"^{field}: .*\(fix: "):
        BatchPolicy(**kwargs)  # type: ignore[arg-type]


def test_batch_size_is_the_camera_count_capped_by_the_engine() -> None:
    assert BatchPolicy(cameras=CAMS).batch_size(engine_limit=64) == 4
    assert BatchPolicy(cameras=CAMS).batch_size(engine_limit=1) == 1
    assert BatchPolicy(cameras=CAMS, max_batch=2).batch_size(engine_limit=8) == 2
