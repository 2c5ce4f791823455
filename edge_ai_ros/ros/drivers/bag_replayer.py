"""Play a bag's frames through a real inference node, frame by frame, and collect every output.

Regression mode: the node runs with reliable image QoS and ``drop_policy=none``, and the
replayer keeps at most ``max_in_flight`` frames unanswered, so no queue anywhere can drop
a frame and the outputs depend only on the engine. Frames are published as the recorded
CDR bytes (no decode/re-encode), outputs are collected as CDR bytes and matched back to
their frame by header stamp; latency is publish -> output received, per frame.

The node and the replayer share one process (in a context of their own, on the domain id
asked for): no child process to start, wait for or clean up, one clock for latencies, and one
bag per process is the unit that ``--jobs`` runs in parallel.

Threads. The thread that publishes also takes the outputs: it spins the replayer's own
SingleThreadedExecutor (one subscription) until the frame in flight is answered, so an output
is in hand about 0.3 ms after the node publishes it. The node's own entities (timers,
services) are spun by a second SingleThreadedExecutor thread; its frames arrive wherever the
node takes them. No MultiThreadedExecutor: in rclpy 7.1.6 (Jazzy) it re-yields and re-submits
a ready callback to its pool, without waiting, until a pool thread starts it (ros2/rclpy#1452,
fixed upstream by #1547); on 2 cores that loop held the GIL so long that outputs waited
100 ms - 1.2 s in the pool queue (42,660 submissions for 100 frames), which made replay run at
7-40 frames/s with p99 latency near 1 s. See docs/replay.md for the measurements.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable

import rclpy
from rclpy.context import Context
from rclpy.executors import SingleThreadedExecutor
from rclpy.lifecycle import LifecycleNode, TransitionCallbackReturn
from rclpy.node import Node
from rclpy.parameter import Parameter
from sensor_msgs.msg import CompressedImage, Image

from edge_ai_ros.bags.source import COMPRESSED, READ_ERRORS, Frame, header_stamp_ns
from edge_ai_ros.errors import BagError, EdgeAiError
from edge_ai_ros.msg import DetectionArray
from edge_ai_ros.replay.player import DEFAULT_REPLAYER_CONFIG, CollectedOutput, ReplayerConfig, ReplayOutcome
from edge_ai_ros.ros.drivers.replay_stages import NodeTimings, frame_stages, now
from edge_ai_ros.ros.environment import apply_ros_env_defaults
from edge_ai_ros.ros.qos import image_qos, output_qos

_MIN_DEPTH = 10  # QoS history and node queue depth in regression mode (more when more frames are in flight)
_SPIN_SLICE_S = 0.05  # longest a spin waits before the loop re-checks its stop condition or deadline
_RECORDS_WAIT_S = 2.0  # for the node's last stage records, which it publishes just after the outputs


class _Collector:
    """Matches outputs to frames in flight by header stamp.

    Used only by the thread that publishes: its ``received`` runs inside that thread's
    ``spin_once``, so there is no lock, no condition and no hand-off to a pool thread.
    """

    def __init__(self) -> None:
        self.pending: dict[int, deque[tuple[Frame, float]]] = {}
        self.in_flight = 0
        self.outputs: list[CollectedOutput] = []
        self.unexpected = 0

    def sent(self, frame: Frame, at: float) -> None:
        self.pending.setdefault(frame.stamp_ns, deque()).append((frame, at))
        self.in_flight += 1

    def received(self, raw: bytes) -> None:
        at = now()
        stamp = header_stamp_ns(raw)
        waiting = self.pending.get(stamp)
        if not waiting:
            self.unexpected += 1
            return
        frame, sent_at = waiting.popleft()
        self.in_flight -= 1
        self.outputs.append(CollectedOutput(index=frame.index, stamp_ns=stamp, log_time_ns=frame.log_time_ns,
                                            data=bytes(raw), latency_s=at - sent_at, sent_at=sent_at,
                                            received_at=at))

    def oldest_sent_at(self) -> float:
        return min(queue[0][1] for queue in self.pending.values() if queue)

    def drop_oldest(self) -> int:
        """Give up on the oldest frame in flight; return its index."""
        queue = min((q for q in self.pending.values() if q), key=lambda q: q[0][1])
        frame, _ = queue.popleft()
        self.in_flight -= 1
        return frame.index


class BagReplayer(Node):
    """Publishes frames on the node's input topic (reliable) and subscribes its detections raw.

    A bare node (no parameter services, no rosout): its executor's wait set holds only the
    detections (and stage records) subscriptions, so waiting for an output costs one rcl_wait.
    Outputs are taken only while the replay waits, so both histories are ``depth`` >=
    max_in_flight deep: no output (or frame) can be overwritten before it is taken.
    """

    def __init__(self, *, msgtype: str, namespace: str, context: Context, collector: _Collector,
                 depth: int = _MIN_DEPTH, timings: NodeTimings | None = None, timings_topic: str = "") -> None:
        super().__init__("bag_replayer", namespace=namespace, context=context, use_global_arguments=False,
                         start_parameter_services=False, enable_rosout=False)
        kind, topic = (CompressedImage, "image/compressed") if msgtype == COMPRESSED else (Image, "image")
        self.image_pub = self.create_publisher(kind, topic, image_qos(depth=depth, reliability="reliable"))
        self.detections_sub = self.create_subscription(
            DetectionArray, "detections", collector.received, output_qos(depth), raw=True)
        self.timings_sub = None if timings is None else self.create_subscription(
            NodeTimings.MSG_TYPE, timings_topic, timings.received, output_qos(depth + 1))

    def connected(self) -> bool:
        subs = (self.detections_sub,) if self.timings_sub is None else (self.detections_sub, self.timings_sub)
        return self.image_pub.get_subscription_count() > 0 and all(sub.get_publisher_count() > 0 for sub in subs)


def regression_parameters(manifest: str, backend: str, extra: dict[str, object],
                          in_flight: int = 1) -> list[Parameter]:
    """Node parameters of regression mode; image history and frame queue hold every frame in flight."""
    values: dict[str, object] = {
        "model_manifest": manifest, "backend": backend, "qos_reliability": "reliable",
        "drop_policy": "none", "autostart": False, "qos_depth": max(_MIN_DEPTH, in_flight),
        "queue_size": max(_MIN_DEPTH, in_flight), "publish_frame_timings": False, **extra,
    }
    return [Parameter(name, value=value) for name, value in values.items()]


def _bring_up(node: LifecycleNode, manifest: str) -> None:
    """Configure and activate here rather than by autostart, so a model that fails to load stops the replay now."""
    if node.trigger_configure() != TransitionCallbackReturn.SUCCESS:
        raise EdgeAiError(f"the inference node could not load {manifest} (its log above says why)",
                          fix="check --model and --backend")
    if node.trigger_activate() != TransitionCallbackReturn.SUCCESS:
        raise EdgeAiError("the inference node did not activate (its log above says why)")


def _spin_until(executor: SingleThreadedExecutor, stop: threading.Event) -> None:
    """Spin in short slices: Executor.spin can miss a shutdown() from another thread and never return."""
    while not stop.is_set():
        executor.spin_once(timeout_sec=_SPIN_SLICE_S)


def _wait(predicate: Callable[[], bool], timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def _spin_while(executor: SingleThreadedExecutor, busy: Callable[[], bool], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while busy() and time.monotonic() < deadline:
        executor.spin_once(timeout_sec=_SPIN_SLICE_S)


def _with_stages(outputs: Iterable[CollectedOutput], timings: NodeTimings | None) -> list[CollectedOutput]:
    if timings is None:
        return list(outputs)
    return [dataclasses.replace(o, stages_ms=frame_stages(o.sent_at, o.received_at, timings.by_stamp.get(o.stamp_ns)))
            for o in outputs]


def _collect_until_below(limit: int, executor: SingleThreadedExecutor, collector: _Collector,
                         timeout_s: float) -> list[int]:
    """Take outputs in this thread until fewer than ``limit`` frames are in flight.

    A frame still unanswered ``timeout_s`` after its publish is given up (returned).
    """
    given_up: list[int] = []
    while collector.in_flight >= limit:
        left = collector.oldest_sent_at() + timeout_s - now()
        if left <= 0:
            given_up.append(collector.drop_oldest())
        else:
            executor.spin_once(timeout_sec=min(left, _SPIN_SLICE_S))
    return given_up


def _play(frames: Iterable[Frame], replayer: BagReplayer, executor: SingleThreadedExecutor,
          collector: _Collector, config: ReplayerConfig) -> tuple[int, list[int], str]:
    published, unanswered, error = 0, [], ""
    try:
        for frame in frames:  # the next frame is read from the bag while the previous one is in the node
            unanswered += _collect_until_below(config.max_in_flight, executor, collector, config.frame_timeout_s)
            collector.sent(frame, now())
            replayer.image_pub.publish(frame.data)
            published += 1
    except READ_ERRORS as err:
        error = f"{type(err).__name__}: {err}"
    unanswered += _collect_until_below(1, executor, collector, config.frame_timeout_s)
    replayer.image_pub.wait_for_all_acked(rclpy.duration.Duration(seconds=config.frame_timeout_s))
    return published, unanswered, error


def replay_frames(frames: Iterable[Frame], *, msgtype: str, manifest: str, backend: str,
                  config: ReplayerConfig = DEFAULT_REPLAYER_CONFIG) -> ReplayOutcome:
    """Start the node in regression mode, play ``frames``, return every output and its latency."""
    from edge_ai_ros.ros.inference_node import InferenceNode

    apply_ros_env_defaults()
    context = Context()
    rclpy.init(context=context, domain_id=config.domain_id)
    node_executor = SingleThreadedExecutor(context=context)  # not Multi: see the module docstring
    replay_executor = SingleThreadedExecutor(context=context)
    collector = _Collector()
    timings = NodeTimings() if config.stage_timings else None
    nodes: list[Node] = []
    stop = threading.Event()
    spinner = threading.Thread(target=_spin_until, args=(node_executor, stop), name="replay_node_executor")
    try:
        extra = {"publish_frame_timings": config.stage_timings, **config.node_parameters}
        params = regression_parameters(manifest, backend, extra, config.max_in_flight)
        node = InferenceNode(namespace=config.namespace, parameter_overrides=params, context=context)
        nodes.append(node)
        _bring_up(node, manifest)
        node_executor.add_node(node)
        replayer = BagReplayer(msgtype=msgtype, namespace=config.namespace, context=context, collector=collector,
                               depth=max(_MIN_DEPTH, config.max_in_flight), timings=timings,
                               timings_topic=node.resolve_topic_name("~/frame_timings"))
        nodes.append(replayer)
        replay_executor.add_node(replayer)
        spinner.start()
        if not _wait(replayer.connected, config.startup_timeout_s):
            raise EdgeAiError(
                f"the replayer and the inference node did not discover each other on "
                f"{replayer.image_pub.topic_name} within {config.startup_timeout_s:.0f} s",
                fix="check ROS_DOMAIN_ID / ROS_AUTOMATIC_DISCOVERY_RANGE and the Fast DDS profile",
            )
        start = time.perf_counter()
        published, unanswered, error = _play(frames, replayer, replay_executor, collector, config)
        wall = time.perf_counter() - start
        if timings is not None:
            stamps = {o.stamp_ns for o in collector.outputs}
            _spin_while(replay_executor, lambda: not timings.has_all(stamps), _RECORDS_WAIT_S)
    finally:
        stop.set()
        if spinner.is_alive():
            spinner.join()
        node_executor.shutdown()
        replay_executor.shutdown()
        for each in nodes:
            each.destroy_node()
        rclpy.try_shutdown(context=context)
    outputs = tuple(sorted(_with_stages(collector.outputs, timings), key=lambda o: o.index))
    if not published and error:
        raise BagError(f"no frame could be read: {error}", fix="check that the bag is complete")
    return ReplayOutcome(outputs=outputs, frames_published=published, unanswered=tuple(sorted(unanswered)),
                         unexpected_outputs=collector.unexpected, wall_s=wall, read_error=error)
