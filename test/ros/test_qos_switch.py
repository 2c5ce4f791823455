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

OLD_SUB: Any = object()  # stands for the subscription being replaced: only its identity matters here
NEW_SUB: Any = object()


def _frame(index: int, *, stamp_ns: int | None = None) -> Any:
    stamp = 1_000_000_000 + index * 33_000_000 if stamp_ns is None else stamp_ns
    header = SimpleNamespace(stamp=SimpleNamespace(sec=stamp // 1_000_000_000, nanosec=stamp % 1_000_000_000),
                             frame_id="camera")
    return SimpleNamespace(header=header, data=b"\0" * 12)


def _input(durability: str = "volatile") -> tuple[_Input, list[Any]]:
    passed: list[Any] = []
    item = _Input(topic=FrameTopic(msg_type=Image, name="image", callback=passed.append), resolved="/image",
                  health=InputHealth(), choice=QosChoice(reliability="reliable", durability=durability, reason="t"),
                  offered=[], subscription=OLD_SUB)
    return item, passed


def _deliver(item: _Input, passed: list[Any], msg: Any, generation: int) -> None:
    if item.passes(msg, generation):
        passed.append(msg)


def _switch(item: _Input) -> None:
    item.switched(NEW_SUB, now=0.0)


def test_frames_both_subscriptions_deliver_pass_once_in_either_order() -> None:
    item, passed = _input()
    frames = [_frame(i) for i in range(12)]
    for msg in frames[:3]:
        _deliver(item, passed, msg, 0)
    _switch(item)
    assert item.retiring is OLD_SUB and item.subscription is NEW_SUB and item.generation == 1
    for msg in frames[3:5]:  # only the old one has them (the new one matched the writer later)
        _deliver(item, passed, msg, 0)
    for msg in frames[5:8]:  # both have them; the old one first, then the new one (EventsExecutor order)
        _deliver(item, passed, msg, 0)
    for msg in frames[5:8]:
        _deliver(item, passed, msg, 1)
    _deliver(item, passed, frames[8], 1)  # the new one first now...
    _deliver(item, passed, frames[8], 0)  # ...and the old one's copy after its successor started: dropped
    for msg in frames[9:]:
        _deliver(item, passed, msg, 1)
    assert passed == frames
    assert item.new_frames == 7
    assert sum(item.passed_by_old.values()) == 2  # frames 3 and 4: the new one never has them (forgotten later)


def test_a_driver_that_stamps_every_frame_alike_loses_nothing_and_repeats_nothing() -> None:
    item, passed = _input()
    same = [_frame(0, stamp_ns=0) for _ in range(8)]
    _switch(item)
    _deliver(item, passed, same[0], 0)
    _deliver(item, passed, same[1], 0)
    for msg in same[:2]:  # the new subscription's copies of those two
        _deliver(item, passed, msg, 1)
    for msg in same[2:]:
        _deliver(item, passed, msg, 1)
    assert len(passed) == 8


def test_a_transient_local_successor_repeats_the_last_frames_and_they_are_dropped() -> None:
    item, passed = _input(durability="transient_local")
    frames = [_frame(i) for i in range(6)]
    for msg in frames[:4]:
        _deliver(item, passed, msg, 0)
    _switch(item)
    for msg in frames[1:]:  # the writer's history (depth 3) first, then what is new
        _deliver(item, passed, msg, 1)
    assert passed == frames


def test_a_volatile_successor_does_not_swallow_new_frames_that_look_like_old_ones() -> None:
    item, passed = _input()
    _deliver(item, passed, _frame(0, stamp_ns=0), 0)
    _switch(item)
    _deliver(item, passed, _frame(0, stamp_ns=0), 1)  # a new frame, stamped alike: not a repeat
    assert len(passed) == 2


def test_frames_of_a_subscription_with_no_switch_all_pass() -> None:
    item, passed = _input()
    frames = [_frame(i % 3) for i in range(9)]  # even exact repeats: without a switch nothing is dropped
    for msg in frames:
        _deliver(item, passed, msg, 0)
    assert passed == frames


def test_late_frames_of_a_destroyed_subscription_are_dropped() -> None:
    """The EventsExecutor can run a frame event of a subscription destroyed a moment before."""
    item, passed = _input()
    _switch(item)  # generation 0 retires
    _deliver(item, passed, _frame(0), 1)
    item.retiring, item.retiring_generation = None, -1  # what AdaptiveIntake._retire does after destroying it
    item.switched(OLD_SUB, now=1.0)  # a second switch: generation 1 retires, 2 takes over
    _deliver(item, passed, _frame(0), 0)  # generation 0's queued event, after it was destroyed
    _deliver(item, passed, _frame(1), 1)
    _deliver(item, passed, _frame(1), 2)
    assert passed == [_frame(0), _frame(1)]  # equal by value (SimpleNamespace)
