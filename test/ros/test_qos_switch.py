"""A QoS switch is made before it breaks: every frame passes once, whatever order the two
subscriptions deliver in (the frame-thread bookkeeping of ros/input_qos.py, without DDS)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

pytest.importorskip("rclpy")

from sensor_msgs.msg import Image  # noqa: E402

from edge_ai_ros.ros.frame_intake import FrameTopic  # noqa: E402
from edge_ai_ros.ros.input_qos import QosChoice, _Input  # noqa: E402
from edge_ai_ros.serving.input_health import InputHealth  # noqa: E402

SUB_A: Any = object()  # stand for subscriptions: only their identity matters here
SUB_B: Any = object()


def _frame(index: int, *, stamp_ns: int | None = None) -> Any:
    stamp = 1_000_000_000 + index * 33_000_000 if stamp_ns is None else stamp_ns
    header = SimpleNamespace(stamp=SimpleNamespace(sec=stamp // 1_000_000_000, nanosec=stamp % 1_000_000_000),
                             frame_id="camera")
    return SimpleNamespace(header=header, data=b"\0" * 12)


class Run:
    """One input; ``deliver`` is what a subscription's callback does with a frame."""

    def __init__(self, durability: str = "volatile") -> None:
        self.item = _Input(topic=FrameTopic(msg_type=Image, name="image", callback=print), resolved="/image",
                           health=InputHealth(), offered=[], subscription=SUB_A,
                           choice=QosChoice(reliability="reliable", durability=durability, reason="t"))
        self.passed: list[Any] = []

    def deliver(self, generation: int, *frames: Any) -> None:
        for msg in frames:
            if self.item.passes(msg, generation):
                self.passed.append(msg)

    def switch(self, history: int = 5) -> None:
        """What AdaptiveIntake._switch does on the frame thread (one old subscription at most)."""
        item = self.item
        if item.retiring is not None:
            if item.new_frames == 0:
                item.dropped_current()  # it never delivered: the one it was replacing stays
            else:
                item.retired()
        item.switched(SUB_B, item.next_generation, now=0.0, history=history)


def test_frames_both_subscriptions_deliver_pass_once_when_the_old_one_is_first() -> None:
    run, f = Run(), [_frame(i) for i in range(12)]
    run.deliver(0, *f[:3])
    run.switch()
    assert run.item.retiring is SUB_A and run.item.subscription is SUB_B and run.item.generation == 1
    run.deliver(0, *f[3:8])  # 3 and 4 only the old one has (the new one matched the writer later)
    run.deliver(1, *f[5:8])
    run.deliver(1, f[8])  # the new one first now...
    run.deliver(0, f[8])  # ...then the old one's copy
    run.deliver(1, *f[9:])
    assert run.passed == f
    assert run.item.new_frames == 7


def test_frames_pass_once_when_the_new_one_is_first_and_the_old_one_still_has_its_own() -> None:
    """SingleThreadedExecutor takes one frame per subscription per wait, so the new one can go first
    while the old one still holds frames only it has."""
    run, f = Run(), [_frame(i) for i in range(6)]
    run.switch()
    run.deliver(0, f[0])
    run.deliver(1, f[2])  # the new one matched at frame 2
    run.deliver(0, f[1], f[2])  # the old one's own frame 1 passes, its copy of 2 does not
    run.deliver(1, f[3])
    run.deliver(0, f[3])
    run.deliver(1, f[4], f[5])
    assert run.passed == [f[0], f[2], f[1], *f[3:]]  # each once, in the order they were delivered


def test_two_switches_in_a_row_repeat_nothing() -> None:
    """The subscription being replaced had not caught up with its predecessor yet."""
    run, f = Run(), [_frame(i) for i in range(6)]
    run.switch()  # 0 -> 1
    run.deliver(0, f[0], f[1])
    run.deliver(1, f[0])  # generation 1 delivers (a copy), so it is the one kept
    run.switch()  # 1 -> 2: generation 0 is destroyed; generation 1 still owes frame 1
    assert run.item.generation == 2 and run.item.retiring_generation == 1
    run.deliver(1, f[1], f[2])
    run.deliver(2, f[2], f[3])
    run.deliver(1, f[3], f[4])
    run.deliver(2, f[4], f[5])
    assert run.passed == f


def test_a_second_switch_before_the_new_one_delivered_keeps_the_old_one() -> None:
    run, f = Run(), [_frame(i) for i in range(4)]
    run.switch()  # 0 -> 1; generation 1 never delivers (it matched nothing yet)
    run.deliver(0, f[0])
    run.switch()  # generation 1 is destroyed, 0 keeps delivering until 2 takes over
    assert (run.item.retiring_generation, run.item.generation) == (0, 2)
    run.deliver(1, f[1])  # a late event of the destroyed generation 1
    run.deliver(0, f[1])
    run.deliver(2, f[1], f[2])
    run.deliver(0, f[2])
    run.item.retired()
    run.deliver(2, f[3])
    assert run.passed == f


def test_a_successor_behind_the_old_one_repeats_nothing_after_the_old_one_is_gone() -> None:
    """A reliable reader waiting for a repair falls behind; the old one is destroyed meanwhile."""
    run, f = Run(), [_frame(i) for i in range(8)]
    run.switch()
    run.deliver(1, f[0], f[1])
    run.deliver(0, *f[:6])  # the old one is ahead: 2..5 passed by it
    run.item.retired()
    run.deliver(1, *f[2:])  # the successor catches up: its copies of 2..5 are dropped
    assert run.passed == f
    assert not run.item.owed  # past everything it owed: back to the fast path


def test_a_driver_that_stamps_every_frame_alike_loses_nothing_when_both_deliver() -> None:
    run, same = Run(), [_frame(0, stamp_ns=0) for _ in range(8)]
    run.switch()
    run.deliver(0, same[0], same[1])
    run.deliver(1, *same[:2])  # the new subscription's copies of those two
    run.deliver(1, *same[2:])
    assert len(run.passed) == 8


def test_frames_alike_that_only_the_old_one_got_are_forgotten_once_caught_up() -> None:
    """The limit of telling frames apart by header: a frame only the old subscription got looks like a
    later one; it can take that one's place until the next poll after the old one is gone."""
    run, same = Run(), [_frame(0, stamp_ns=0) for _ in range(6)]
    run.switch()
    run.deliver(0, same[0])  # before the new one matched: it will never deliver this one
    run.deliver(1, same[1])  # taken for the copy of frame 0
    run.item.retired()
    run.item.caught_up()
    run.deliver(1, *same[2:])
    assert len(run.passed) == 5


def test_a_transient_local_successor_repeats_the_last_frames_and_they_are_dropped() -> None:
    run, f = Run(durability="transient_local"), [_frame(i) for i in range(6)]
    run.deliver(0, *f[:4])
    run.switch(history=3)
    run.deliver(1, *f[1:])  # the writer's history (depth 3) first, then what is new
    assert run.passed == f


def test_a_volatile_successor_does_not_swallow_new_frames_that_look_like_old_ones() -> None:
    run = Run()
    run.deliver(0, _frame(0, stamp_ns=0))
    run.switch()
    run.deliver(1, _frame(0, stamp_ns=0))  # a new frame, stamped alike: not a repeat
    assert len(run.passed) == 2


def test_late_frames_of_a_destroyed_subscription_are_dropped() -> None:
    """The EventsExecutor can run a frame event of a subscription destroyed a moment before."""
    run = Run()
    run.switch()  # generation 0 retires
    run.deliver(1, _frame(0))
    run.switch()  # generation 0 destroyed, 1 retires, 2 takes over
    run.deliver(0, _frame(0))  # generation 0's queued event, after it was destroyed
    run.deliver(1, _frame(1))
    run.deliver(2, _frame(1))
    assert run.passed == [_frame(0), _frame(1)]  # equal by value (SimpleNamespace)


def test_without_a_switch_every_frame_passes() -> None:
    run, frames = Run(), [_frame(i % 3) for i in range(9)]
    run.deliver(0, *frames)  # even exact repeats: without a switch nothing is dropped
    assert run.passed == frames
    assert not run.item.owed
