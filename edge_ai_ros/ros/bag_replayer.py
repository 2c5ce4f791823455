"""Play a bag's frames through a real inference node, frame by frame, and collect every output.

Regression mode: the node runs with reliable image QoS and ``drop_policy=none``, and the
replayer keeps at most ``max_in_flight`` frames unanswered, so no queue anywhere can drop
a frame and the outputs depend only on the engine. Frames are published as the recorded
CDR bytes (no decode/re-encode), outputs are collected as CDR bytes and matched back to
their frame by header stamp; latency is publish -> output received, per frame.

The node, the replayer and the collector share one process and one MultiThreadedExecutor
(in a context of their own, on the domain id asked for): no child process to start, wait
for or clean up, one clock for latencies, and one bag per process is the unit that
``--jobs`` runs in parallel.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import rclpy
from rclpy.context import Context
from rclpy.executors import MultiThreadedExecutor
from rclpy.lifecycle import LifecycleNode, TransitionCallbackReturn
from rclpy.node import Node
from rclpy.parameter import Parameter
from sensor_msgs.msg import CompressedImage, Image

from edge_ai_ros.errors import BagError, ConfigError, EdgeAiError
from edge_ai_ros.msg import DetectionArray
from edge_ai_ros.replay.bag_source import COMPRESSED, READ_ERRORS, Frame, header_stamp_ns
from edge_ai_ros.ros.environment import apply_ros_env_defaults
from edge_ai_ros.ros.qos import image_qos, output_qos


@dataclass(frozen=True, kw_only=True)
class ReplayerConfig:
    namespace: str = "replay"
    domain_id: int | None = None  # None: ROS_DOMAIN_ID from the environment
    max_in_flight: int = 1  # frames published and not yet answered
    frame_timeout_s: float = 10.0  # a frame with no output after this is recorded as unanswered
    startup_timeout_s: float = 30.0  # discovery between the replayer and the node
    node_parameters: dict[str, object] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.max_in_flight < 1:
            raise ConfigError("max_in_flight", f"must be >= 1, got {self.max_in_flight}")
        if self.frame_timeout_s <= 0 or self.startup_timeout_s <= 0:
            raise ConfigError("timeouts", "must be positive")


@dataclass(frozen=True, kw_only=True)
class CollectedOutput:
    index: int
    stamp_ns: int
    log_time_ns: int
    data: bytes  # DetectionArray CDR
    latency_s: float


@dataclass(frozen=True, kw_only=True)
class ReplayOutcome:
    outputs: tuple[CollectedOutput, ...]
    frames_published: int
    unanswered: tuple[int, ...]  # frame indices without an output within frame_timeout_s
    unexpected_outputs: int  # outputs whose stamp matched no frame in flight
    wall_s: float
    read_error: str = ""  # why reading the bag stopped early, "" if it did not


class _Collector:
    """Matches outputs to frames in flight by header stamp; wakes the publisher."""

    def __init__(self) -> None:
        self.cond = threading.Condition()
        self.pending: dict[int, deque[tuple[Frame, float]]] = {}
        self.in_flight = 0
        self.outputs: list[CollectedOutput] = []
        self.unexpected = 0

    def sent(self, frame: Frame, at: float) -> None:
        with self.cond:
            self.pending.setdefault(frame.stamp_ns, deque()).append((frame, at))
            self.in_flight += 1

    def received(self, raw: bytes) -> None:
        now = time.perf_counter()
        stamp = header_stamp_ns(raw)
        with self.cond:
            waiting = self.pending.get(stamp)
            if not waiting:
                self.unexpected += 1
                return
            frame, sent_at = waiting.popleft()
            self.in_flight -= 1
            self.outputs.append(CollectedOutput(index=frame.index, stamp_ns=stamp, log_time_ns=frame.log_time_ns,
                                                data=bytes(raw), latency_s=now - sent_at))
            self.cond.notify_all()

    def wait_below(self, limit: int, timeout_s: float) -> list[int]:
        """Wait until fewer than ``limit`` frames are in flight; give up on those older than the timeout."""
        with self.cond:
            self.cond.wait_for(lambda: self.in_flight < limit, timeout_s)
            return [] if self.in_flight < limit else self._drop_oldest()

    def _drop_oldest(self) -> list[int]:
        stamp, queue = min(((s, q) for s, q in self.pending.items() if q), key=lambda sq: sq[1][0][1])
        frame, _ = queue.popleft()
        self.in_flight -= 1
        del stamp
        return [frame.index]


class BagReplayer(Node):
    """Publishes frames on the node's input topic (reliable) and subscribes its detections raw."""

    def __init__(self, *, msgtype: str, namespace: str, context: Context, collector: _Collector) -> None:
        super().__init__("bag_replayer", namespace=namespace, context=context)
        kind, topic = (CompressedImage, "image/compressed") if msgtype == COMPRESSED else (Image, "image")
        self.image_pub = self.create_publisher(kind, topic, image_qos(depth=10, reliability="reliable"))
        self.detections_sub = self.create_subscription(
            DetectionArray, "detections", collector.received, output_qos(), raw=True)

    def connected(self) -> bool:
        return self.image_pub.get_subscription_count() > 0 and self.detections_sub.get_publisher_count() > 0


def regression_parameters(manifest: str, backend: str, extra: dict[str, object]) -> list[Parameter]:
    values: dict[str, object] = {
        "model_manifest": manifest, "backend": backend, "qos_reliability": "reliable",
        "drop_policy": "none", "autostart": False, **extra,
    }
    return [Parameter(name, value=value) for name, value in values.items()]


def _bring_up(node: LifecycleNode, manifest: str) -> None:
    """Configure and activate here rather than by autostart, so a model that fails to load stops the replay now."""
    if node.trigger_configure() != TransitionCallbackReturn.SUCCESS:
        raise EdgeAiError(f"the inference node could not load {manifest} (its log above says why)",
                          fix="check --model and --backend")
    if node.trigger_activate() != TransitionCallbackReturn.SUCCESS:
        raise EdgeAiError("the inference node did not activate (its log above says why)")


def _spin_until(executor: MultiThreadedExecutor, stop: threading.Event) -> None:
    """Spin in short slices: Executor.spin can miss a shutdown() from another thread and never return."""
    while not stop.is_set():
        executor.spin_once(timeout_sec=0.05)


def _wait(predicate: Callable[[], bool], timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def _play(frames: Iterable[Frame], replayer: BagReplayer, collector: _Collector,
          config: ReplayerConfig) -> tuple[int, list[int], str]:
    published, unanswered, error = 0, [], ""
    try:
        for frame in frames:
            unanswered += collector.wait_below(config.max_in_flight, config.frame_timeout_s)
            collector.sent(frame, time.perf_counter())
            replayer.image_pub.publish(frame.data)
            published += 1
    except READ_ERRORS as err:
        error = f"{type(err).__name__}: {err}"
    while collector.in_flight:
        unanswered += collector.wait_below(1, config.frame_timeout_s)
    replayer.image_pub.wait_for_all_acked(rclpy.duration.Duration(seconds=config.frame_timeout_s))
    return published, unanswered, error


def replay_frames(frames: Iterable[Frame], *, msgtype: str, manifest: str, backend: str,
                  config: ReplayerConfig = ReplayerConfig()) -> ReplayOutcome:
    """Start the node in regression mode, play ``frames``, return every output and its latency."""
    from edge_ai_ros.ros.inference_node import InferenceNode

    apply_ros_env_defaults()
    context = Context()
    rclpy.init(context=context, domain_id=config.domain_id)
    executor = MultiThreadedExecutor(num_threads=4, context=context)
    collector = _Collector()
    nodes: list[Node] = []
    stop = threading.Event()
    spinner = threading.Thread(target=_spin_until, args=(executor, stop), name="replay_executor")
    try:
        params = regression_parameters(manifest, backend, config.node_parameters)
        node = InferenceNode(namespace=config.namespace, parameter_overrides=params, context=context)
        nodes.append(node)
        _bring_up(node, manifest)
        replayer = BagReplayer(msgtype=msgtype, namespace=config.namespace, context=context, collector=collector)
        nodes.append(replayer)
        for each in nodes:
            executor.add_node(each)
        spinner.start()
        if not _wait(replayer.connected, config.startup_timeout_s):
            raise EdgeAiError(
                f"the replayer and the inference node did not discover each other on "
                f"{replayer.image_pub.topic_name} within {config.startup_timeout_s:.0f} s",
                fix="check ROS_DOMAIN_ID / ROS_AUTOMATIC_DISCOVERY_RANGE and the Fast DDS profile",
            )
        start = time.perf_counter()
        published, unanswered, error = _play(frames, replayer, collector, config)
        wall = time.perf_counter() - start
    finally:
        stop.set()
        if spinner.is_alive():
            spinner.join()
        executor.shutdown()
        for each in nodes:
            each.destroy_node()
        rclpy.try_shutdown(context=context)
    with collector.cond:
        outputs = tuple(sorted(collector.outputs, key=lambda o: o.index))
    if not published and error:
        raise BagError(f"no frame could be read: {error}", fix="check that the bag is complete")
    return ReplayOutcome(outputs=outputs, frames_published=published, unanswered=tuple(sorted(unanswered)),
                         unexpected_outputs=collector.unexpected, wall_s=wall, read_error=error)
