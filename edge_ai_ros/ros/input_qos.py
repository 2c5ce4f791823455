"""Image subscriptions that follow what the publishers offer, and report what they lose.

``input_qos`` (parameter):

- ``auto`` (default), as ``rosbag2 record`` does it: reliable when every discovered publisher
  of the topic offers reliable, else best effort (a reliable reader would not match a
  best-effort writer); transient local only when every publisher offers it. Without
  publishers the subscription uses ``qos_reliability``. The publishers are polled on a timer
  and the subscription is made again when the choice changes (a driver restarted with
  other settings, a second camera on the topic). It is made before it breaks: the new
  subscription is made while the old one still takes frames, each frame is passed on once
  (same stamp, frame_id and size: the same frame), and the old one is destroyed once the new
  one has delivered frames (or after a few seconds without). So the switch a stock reliable
  driver causes when it appears after the node loses no frame.
- ``reliable`` / ``best_effort``: fixed, depth ``qos_depth``; a publisher that does not match
  is reported (diagnostics ERROR, a log line), not followed.
- ``sensor_data``: rclpy's sensor-data profile (best effort, keep last 5, volatile).

Why follow the publisher: a stock camera driver publishes reliable (the rclpy and rclcpp
default). A best-effort subscription still matches it, but then receives best effort and
loses what the transport loses; subscribing reliable lets the middleware repair it
(measured in docs/camera_drivers.md). Loss per input (:mod:`edge_ai_ros.serving.input_health`)
comes from the subscription's message_lost event and from gaps in the header stamps.
"""

from __future__ import annotations

import collections
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from diagnostic_msgs.msg import DiagnosticStatus, KeyValue
from rclpy.event_handler import SubscriptionEventCallbacks
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
from rclpy.subscription import Subscription

from edge_ai_ros.ros.frame_intake import FrameIntake, FrameTopic
from edge_ai_ros.ros.qos import image_qos
from edge_ai_ros.serving import input_health

_CAUSE_LOG_PERIOD_S = 60.0
_RETIRE_AFTER_FRAMES = 2  # the new subscription delivered this many frames: the old one is destroyed
_RETIRE_AFTER_S = 3.0  # without publishers, this long after the switch
_RETIRE_BOUND_S = 10.0  # and in any case after this long (a publisher that never matches the new one)
_RECENT_FRAMES = 64  # frames remembered for a transient-local successor (history depths are smaller)
FrameKey = tuple[int, int, str, int]  # header stamp (sec, nanosec), frame_id, payload size
# two tables: the policies are IntEnums with overlapping values (RELIABLE == TRANSIENT_LOCAL == 1)
_RELIABILITY_NAMES = {ReliabilityPolicy.RELIABLE: "reliable", ReliabilityPolicy.BEST_EFFORT: "best_effort"}
_DURABILITY_NAMES = {DurabilityPolicy.TRANSIENT_LOCAL: "transient_local", DurabilityPolicy.VOLATILE: "volatile"}


@dataclass(frozen=True, kw_only=True)
class QosChoice:
    reliability: str  # best_effort | reliable
    durability: str  # volatile | transient_local
    reason: str

    def profile(self, mode: str, depth: int) -> QoSProfile:
        if mode == "sensor_data":
            return qos_profile_sensor_data
        qos = image_qos(depth=depth, reliability=self.reliability)
        if self.durability == "transient_local":
            qos.durability = DurabilityPolicy.TRANSIENT_LOCAL
        return qos


def choose(mode: str, offered: Sequence[tuple[str, str]], fallback: str) -> QosChoice:
    """The subscription QoS for ``mode`` given the publishers' (reliability, durability) offers."""
    if mode == "sensor_data":
        return QosChoice(reliability="best_effort", durability="volatile", reason="fixed: sensor_data")
    if mode != "auto":
        return QosChoice(reliability=mode, durability="volatile", reason=f"fixed: {mode}")
    if not offered:
        return QosChoice(reliability=fallback, durability="volatile", reason="auto: no publisher yet")
    reliable = all(rel == "reliable" for rel, _ in offered)
    latched = all(dur == "transient_local" for _, dur in offered)
    return QosChoice(reliability="reliable" if reliable else "best_effort",
                     durability="transient_local" if latched else "volatile",
                     reason=f"auto: {len(offered)} publisher(s) offer "
                            + ", ".join(sorted({f'{r}/{d}' for r, d in offered})))


def compatible(choice: QosChoice, offer: tuple[str, str]) -> bool:
    """Whether a publisher offering ``offer`` matches a subscription made with ``choice``."""
    reliability_ok = choice.reliability == "best_effort" or offer[0] == "reliable"
    durability_ok = choice.durability == "volatile" or offer[1] == "transient_local"
    return reliability_ok and durability_ok


def offers(node: Node, topic: str) -> tuple[list[tuple[str, str]], frozenset[bytes]]:
    """(reliability, durability) of every publisher of ``topic`` (names as in the parameter), and their ids."""
    out, ids = [], set()
    for info in node.get_publishers_info_by_topic(topic):
        qos = info.qos_profile
        out.append((_RELIABILITY_NAMES.get(qos.reliability, "best_effort"),
                    _DURABILITY_NAMES.get(qos.durability, "volatile")))
        ids.add(bytes(info.endpoint_gid))
    return out, frozenset(ids)


def replay_depth(node: Node, topic: str) -> int:
    """How many past frames a transient-local subscription to ``topic`` can be sent at once: the deepest
    history among its transient-local publishers (keep all counts as the cap)."""
    depths = [info.qos_profile.depth or _RECENT_FRAMES for info in node.get_publishers_info_by_topic(topic)
              if info.qos_profile.durability == DurabilityPolicy.TRANSIENT_LOCAL]
    return min(max(depths, default=0), _RECENT_FRAMES)


@dataclass
class _Input:
    topic: FrameTopic
    resolved: str
    health: input_health.InputHealth
    choice: QosChoice
    offered: list[tuple[str, str]]
    publisher_ids: frozenset[bytes] = frozenset()
    last_snapshot: input_health.InputSnapshot = input_health.EMPTY_INPUT
    level: int = input_health.OK
    cause_logged_at: float = -_CAUSE_LOG_PERIOD_S
    # the QoS switch, make before break (only the frame thread touches these: FrameIntake.call)
    subscription: Subscription | None = None
    generation: int = 0  # of ``subscription``; callbacks of older ones are told apart by it
    next_generation: int = 1  # never reused: a dropped subscription's late events stay told apart
    retiring: Subscription | None = None  # the one it replaced, while it still takes frames
    retiring_generation: int = -1  # its generation; frames of any other (a destroyed one's late events) are dropped
    switched_at: float = 0.0
    new_frames: int = 0  # frames the current subscription delivered since the switch (repeats too)
    # per live generation: frames another subscription passed that this one may still deliver
    owed: dict[int, collections.Counter[FrameKey]] = field(default_factory=dict)
    recent: collections.deque[FrameKey] = field(default_factory=lambda: collections.deque(maxlen=_RECENT_FRAMES))

    def passes(self, msg: Any, generation: int) -> bool:
        """Whether a frame is passed on. Across a QoS switch each frame passes once, in whatever order
        the two subscriptions deliver: a frame one of them passed (same stamp, frame_id and size) is
        owed by the other, and the other's copy is dropped, each copy once."""
        if generation != self.generation and generation != self.retiring_generation:
            return False  # a late event of a destroyed subscription
        stamp = (msg.header.stamp.sec, msg.header.stamp.nanosec)
        key = (*stamp, msg.header.frame_id, len(msg.data))
        if self.owed:
            if generation == self.generation and self.retiring is not None:
                self.new_frames += 1  # the successor delivers: the old subscription can go
            mine = self.owed.get(generation)
            if mine and mine[key] > 0:
                mine[key] -= 1
                if not mine[key]:
                    del mine[key]
                return False
            if self.retiring is None and (not mine or all(stamp > k[:2] for k in mine)):
                self.owed = {}  # alone again and past every frame it owed: it has caught up
            for other, owed in self.owed.items():
                if other != generation:
                    owed[key] += 1
        self.recent.append(key)
        return True

    def switched(self, subscription: Subscription, generation: int, now: float, *, history: int) -> None:
        """``subscription`` (made with the new choice, for ``generation``) takes over; the current one
        retires. A transient-local successor delivers up to ``history`` of the last frames again."""
        kept = self.owed.get(self.generation, collections.Counter[FrameKey]())  # the one retiring still owes these
        self.retiring, self.retiring_generation = self.subscription, self.generation
        self.subscription, self.generation, self.next_generation = subscription, generation, generation + 1
        self.switched_at, self.new_frames = now, 0
        replay = list(self.recent)[-history:] if self.choice.durability == "transient_local" and history else []
        self.owed = {self.retiring_generation: kept, self.generation: collections.Counter(replay)}
        self.health.restart()

    def retired(self) -> None:
        """The replaced subscription is destroyed; what it was owed is dropped, what it passed is still
        owed by the successor until the successor is past it (:meth:`passes`) or :meth:`caught_up`."""
        self.owed.pop(self.retiring_generation, None)
        self.retiring, self.retiring_generation = None, -1

    def dropped_current(self) -> None:
        """The current subscription, which never delivered a frame, is destroyed before the one it was
        replacing (a second switch before the first settled): that one is current again."""
        self.owed.pop(self.generation, None)
        self.subscription, self.generation = self.retiring, self.retiring_generation
        self.retiring, self.retiring_generation = None, -1

    def caught_up(self) -> None:
        """The bound after a switch: whatever is still owed is forgotten (e.g. frames stamped alike)."""
        self.owed = {}


class AdaptiveIntake:
    """A FrameIntake whose QoS follows the publishers (``poll``) with per-input loss accounting."""

    def __init__(self, parent: Node, topics: Sequence[FrameTopic], *, mode: str, depth: int, fallback: str,
                 executor: str = "events") -> None:
        self._parent, self._mode, self._depth, self._fallback, self._executor = parent, mode, depth, fallback, executor
        self._lock = threading.Lock()
        self._inputs = [_Input(topic=t, resolved=parent.resolve_topic_name(t.name), health=input_health.InputHealth(),
                               choice=choose(mode, [], fallback), offered=[]) for t in topics]
        for item in self._inputs:
            item.offered, item.publisher_ids = offers(parent, item.resolved)
            item.choice = choose(mode, item.offered, fallback)
        self._switch_failed_at = -_CAUSE_LOG_PERIOD_S
        self._intake: FrameIntake | None = self._build()

    @property
    def executor_kind(self) -> str:
        return self._intake.executor_kind if self._intake is not None else self._executor

    @property
    def publisher_count(self) -> int:
        """Publishers matched to the image subscriptions now (0: no frame can arrive yet); -1 once closed."""
        with self._lock:
            return self._intake.publisher_count if self._intake is not None else -1

    def describe(self) -> str:
        return "; ".join(f"{i.topic.name}: {i.choice.reliability}/{i.choice.durability} ({i.choice.reason})"
                         for i in self._inputs)

    def _topic(self, item: _Input, generation: int) -> FrameTopic:
        return FrameTopic(msg_type=item.topic.msg_type, name=item.topic.name,
                          callback=self._counted(item, generation), qos=item.choice.profile(self._mode, self._depth),
                          events=SubscriptionEventCallbacks(message_lost=self._on_lost(item, generation)))

    def _build(self) -> FrameIntake:
        for item in self._inputs:
            item.health.restart()
        intake = FrameIntake(self._parent, [self._topic(i, i.generation) for i in self._inputs],
                             image_qos(depth=self._depth, reliability=self._fallback), executor=self._executor)
        for item, subscription in zip(self._inputs, intake.subscriptions, strict=True):
            item.subscription = subscription
        return intake

    @staticmethod
    def _counted(item: _Input, generation: int) -> Callable[[Any], None]:
        record, forward, passes = item.health.frame, item.topic.callback, item.passes

        def on_frame(msg: Any) -> None:
            if not passes(msg, generation):
                return  # the same frame from the other subscription of a QoS switch
            stamp = msg.header.stamp
            record(stamp.sec * 1_000_000_000 + stamp.nanosec, len(msg.data))
            forward(msg)

        return on_frame

    @staticmethod
    def _on_lost(item: _Input, generation: int) -> Callable[[Any], None]:
        def on_lost(info: Any) -> None:
            if generation == item.generation:  # a retiring subscription's total is not the current one's
                item.health.lost(int(info.total_count))

        return on_lost

    def poll(self) -> bool:
        """Re-read the publishers; make a subscription again where the choice changed (True then), and
        destroy the ones a switch left behind once their successors deliver frames."""
        with self._lock:
            intake = self._intake
            if intake is None:
                return False
            changed: list[tuple[_Input, QosChoice]] = []
            for item in self._inputs:
                item.offered, ids = offers(self._parent, item.resolved)
                if ids != item.publisher_ids:
                    item.health.new_publishers()
                    item.publisher_ids = ids
                choice = choose(self._mode, item.offered, self._fallback)
                if (choice.reliability, choice.durability) != (item.choice.reliability, item.choice.durability):
                    changed.append((item, choice))  # set when its subscription is made
                else:
                    item.choice = choice
            now = time.monotonic()
            done = [item for item in self._inputs if self._settled(item, now)]
            forget = [item for item in self._inputs
                      if item.retiring is None and item.owed and now - item.switched_at >= _RETIRE_BOUND_S]
            if changed or done or forget:
                try:
                    intake.call(lambda: self._switch(intake, changed, done, forget))
                except Exception as error:  # noqa: BLE001  # the node keeps serving; the next poll tries again
                    if now - self._switch_failed_at >= _CAUSE_LOG_PERIOD_S:
                        self._switch_failed_at = now
                        self._parent.get_logger().warning(
                            f"input QoS switch failed, tried again at every poll (logged once a minute): "
                            f"{type(error).__name__}: {error}")
                    return False
            if changed:
                self._parent.get_logger().info(f"input QoS now {self.describe()}")
            return bool(changed)

    @staticmethod
    def _settled(item: _Input, now: float) -> bool:
        """Whether the subscription a switch replaced can go: its successor has matched every publisher
        it can and delivers frames; or no publisher is left (after a while); or a bound was reached."""
        if item.retiring is None or item.subscription is None:
            return False
        waited = now - item.switched_at
        if waited >= _RETIRE_BOUND_S:
            return True
        if not item.offered:
            return waited >= _RETIRE_AFTER_S
        can_match = sum(compatible(item.choice, offer) for offer in item.offered)
        return item.new_frames >= _RETIRE_AFTER_FRAMES and item.subscription.get_publisher_count() >= can_match

    def _switch(self, intake: FrameIntake, changed: list[tuple[_Input, QosChoice]], done: list[_Input],
                forget: list[_Input]) -> None:
        """On the frame thread: forget what a finished switch still counted, retire what ``done`` left
        behind, then subscribe the ``changed`` inputs with their new choice."""
        for item in forget:
            item.caught_up()
        for item in done:
            if item.retiring is not None:
                intake.destroy(item.retiring)
                item.retired()
        for item, choice in changed:
            if item.retiring is not None:  # a switch before the last one settled: one old subscription at most
                if item.new_frames == 0 and item.subscription is not None:  # keep the one that delivers
                    intake.destroy(item.subscription)
                    item.dropped_current()
                else:
                    intake.destroy(item.retiring)
                    item.retired()
            previous, item.choice = item.choice, choice
            try:
                subscription = intake.create(self._topic(item, item.next_generation))
            except Exception:
                item.choice = previous  # still what the current subscription uses
                raise
            history = replay_depth(self._parent, item.resolved) if choice.durability == "transient_local" else 0
            item.switched(subscription, item.next_generation, time.monotonic(), history=history)

    def close(self) -> None:
        with self._lock:
            intake, self._intake = self._intake, None
        if intake is not None:
            intake.close()

    def status(self, name: str, hardware_id: str) -> DiagnosticStatus:
        """One /diagnostics status for all inputs (level: the worst input's), counts since the last call."""
        values: list[tuple[str, object]] = [("input_qos", self._mode)]
        worst, notes = input_health.OK, []
        for item in self._inputs:
            values += self._input_values(item)
            worst = max(worst, item.level)
            if item.level != input_health.OK:
                notes.append(f"{item.topic.name}: {input_health.LEVEL_NAMES[item.level]}")
        message = "inputs ok" if not notes else "frames lost or not delivered (" + ", ".join(notes) + ")"
        return DiagnosticStatus(level=bytes([worst]), name=name, message=message, hardware_id=hardware_id,
                                values=[KeyValue(key=k, value=str(v)) for k, v in values])

    def _input_values(self, item: _Input) -> list[tuple[str, object]]:
        now = item.health.snapshot()
        delta, item.last_snapshot = now.minus(item.last_snapshot), now
        matched = any(compatible(item.choice, offer) for offer in item.offered)
        item.level = input_health.level_of(delta, item.health.thresholds, publishers=len(item.offered), matched=matched)
        cause = self._cause(item, delta, matched)
        key = item.topic.name
        return [(f"{key}.reliability", item.choice.reliability), (f"{key}.durability", item.choice.durability),
                (f"{key}.qos_reason", item.choice.reason), (f"{key}.publishers", len(item.offered)),
                (f"{key}.matched", matched), (f"{key}.received", now.received),
                (f"{key}.lost_reported", now.lost_reported), (f"{key}.missed_by_stamps", now.missed_by_stamps),
                (f"{key}.lost", now.lost), (f"{key}.period_ms", f"{now.period_s * 1e3:.1f}"),
                (f"{key}.level", input_health.LEVEL_NAMES[item.level]), (f"{key}.cause", cause)]

    def _cause(self, item: _Input, delta: input_health.InputSnapshot, matched: bool) -> str:
        if item.level == input_health.OK:
            return ""
        if not matched:
            offered = ", ".join(sorted({f"{r}/{d}" for r, d in item.offered}))
            cause = input_health.incompatible_cause(offered, f"{item.choice.reliability}/{item.choice.durability}")
        else:
            reliabilities = {r for r, _ in item.offered}
            offered = "best_effort" if "best_effort" in reliabilities or not reliabilities else "reliable"
            cause = input_health.likely_cause(delta, offered_reliability=offered,
                                              compressed=item.topic.name.endswith("compressed"),
                                              subscribed_reliability=item.choice.reliability)
        now = time.monotonic()
        if now - item.cause_logged_at >= _CAUSE_LOG_PERIOD_S:  # once, then at most once a minute
            item.cause_logged_at = now
            self._parent.get_logger().warning(
                f"input {item.topic.name}: {delta.lost} of {delta.received + delta.lost} frames lost "
                f"in the last period; likely cause: {cause}")
        return cause
