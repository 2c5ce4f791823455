"""``camera_source``: replay a bag's image topic as if a camera were publishing it.

Replays at the bag's own rate (or a multiplier, or a fixed fps), on ``image`` as
sensor_msgs/Image rgb8 decoded like a camera driver does (default), or on
``image/compressed`` with the recorded CDR bytes passed through unchanged. Stamps are set
to "now" by default so that input-age diagnostics downstream mean something; frame_id is
kept. When the bag ends it publishes ``~/done`` (transient local) and sets ``finished``,
which the in-process runner waits on.

The replay runs in a thread of its own (the bag's SQLite handle stays in that thread),
so executors only serve the node's parameters and graph.
"""

from __future__ import annotations

import struct
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import rclpy
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from rclpy.serialization import deserialize_message
from sensor_msgs.msg import CompressedImage, Image
from std_msgs.msg import Empty

from edge_ai_ros.bags.source import COMPRESSED as COMPRESSED_TYPE
from edge_ai_ros.bags.source import IMAGE as IMAGE_TYPE
from edge_ai_ros.errors import BagError, ConfigError, EdgeAiError
from edge_ai_ros.ros.conversions import stamp_ns
from edge_ai_ros.ros.qos import image_qos
from edge_ai_ros.ros.source_params import SourceConfig, declare_source_parameters, read_source_config

_CDR_LE = b"\x00\x01"

@dataclass(frozen=True, kw_only=True)
class PublishedFrame:
    """Which bag frame went out with which stamp (the demo matches detections back with it)."""

    index: int
    bag_time_ns: int
    stamp_ns: int
    published_at: float  # time.monotonic()


@dataclass(frozen=True, kw_only=True)
class _BagTopic:
    name: str
    msgtype: str
    count: int


def find_image_topic(bag: str, topic: str = "") -> _BagTopic:
    """The bag's image topic named ``topic`` (or its first image topic); BagError when absent."""
    from rosbags.highlevel import AnyReader

    try:
        with AnyReader([Path(bag)]) as reader:
            topics = [_BagTopic(name=c.topic, msgtype=c.msgtype, count=c.msgcount) for c in reader.connections]
    except Exception as err:  # rosbags raises several unrelated types for unreadable bags
        raise BagError(f"cannot open bag {bag!r}: {err}", fix="check the path and that the bag is complete") from err
    images = [t for t in topics if t.msgtype in (IMAGE_TYPE, COMPRESSED_TYPE)]
    chosen = [t for t in images if t.name == topic] if topic else images[:1]
    if not chosen:
        found = ", ".join(f"{t.name} ({t.msgtype})" for t in topics) or "none"
        raise BagError(f"bag {bag!r} has no image topic {topic!r}; topics: {found}",
                       fix="set -p topic:= to one of the Image/CompressedImage topics")
    return chosen[0]


def iter_raw_messages(bag: str, topic: str) -> Iterator[tuple[int, bytes]]:
    """(bag timestamp ns, raw CDR bytes) of one topic, in bag order."""
    from rosbags.highlevel import AnyReader

    with AnyReader([Path(bag)]) as reader:
        connections = [c for c in reader.connections if c.topic == topic]
        for _, timestamp, raw in reader.messages(connections=connections):
            yield int(timestamp), bytes(raw)


def restamp_cdr(raw: bytes, sec: int, nanosec: int) -> bytes:
    """Replace the header stamp of a CDR message that starts with std_msgs/Header."""
    if raw[:2] != _CDR_LE:
        raise BagError("message is not little-endian CDR", fix="replay with -p restamp:=false")
    return raw[:4] + struct.pack("<iI", sec, nanosec) + raw[12:]


def compressed_to_image(raw: bytes) -> Image:
    """Decode a CompressedImage's CDR into an rgb8 Image, like a camera driver's output."""
    from edge_ai_ros.imaging.compressed import decode_compressed

    msg = deserialize_message(raw, CompressedImage)
    rgb = decode_compressed(format=msg.format, data=bytes(msg.data))
    height, width = rgb.shape[:2]
    return Image(header=msg.header, height=height, width=width, encoding="rgb8", is_bigendian=0,
                 step=width * 3, data=rgb.tobytes())


class CameraSource(Node):
    """Publishes a bag's frames with camera timing and QoS; see the module docstring."""

    def __init__(self, *, namespace: str = "", parameter_overrides: Sequence[Parameter] | None = None,
                 **kwargs: object) -> None:
        super().__init__("camera_source", namespace=namespace,
                         parameter_overrides=list(parameter_overrides or []), **kwargs)  # type: ignore[arg-type]
        declare_source_parameters(self)
        self.config: SourceConfig = read_source_config(self)
        self.bag_topic = find_image_topic(self.config.bag, self.config.topic)
        self._check_output()
        self.finished = threading.Event()
        self.published: list[PublishedFrame] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._publisher = self.create_publisher(self._out_type(), self._out_topic(), self._qos())
        done_qos = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE,
                              durability=DurabilityPolicy.TRANSIENT_LOCAL)
        self._done_pub = self.create_publisher(Empty, "~/done", done_qos)
        self.get_logger().info(
            f"replaying {self.bag_topic.name} ({self.bag_topic.count} frames) from {self.config.bag} "
            f"on {self._publisher.topic_name}")
        if self.config.autostart:
            self.start()

    def _check_output(self) -> None:
        if self.config.output_format == "compressed" and self.bag_topic.msgtype != COMPRESSED_TYPE:
            raise ConfigError("output_format", f"topic {self.bag_topic.name} holds raw images, not compressed",
                              fix="use -p output_format:=raw")

    def _out_type(self) -> type:
        chosen: type = CompressedImage if self.config.output_format == "compressed" else Image
        return chosen

    def _out_topic(self) -> str:
        return "image/compressed" if self.config.output_format == "compressed" else "image"

    def _qos(self) -> QoSProfile:
        return image_qos(depth=self.config.qos_depth, reliability=self.config.qos_reliability)

    @property
    def topic_name(self) -> str:
        return str(self._publisher.topic_name)

    def start(self) -> None:
        """Start replaying in a background thread (idempotent)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="camera_source", daemon=True)
            self._thread.start()

    def stop(self, timeout_s: float = 5.0) -> None:
        """Stop replaying and join the thread."""
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout_s)

    def destroy_node(self) -> None:
        self.stop()
        super().destroy_node()  # type: ignore[no-untyped-call]  # rclpy's own method, unannotated

    def _wait_for_subscribers(self) -> None:
        deadline = time.monotonic() + self.config.wait_for_subscribers_s
        while self._publisher.get_subscription_count() < self.config.min_subscribers:
            if time.monotonic() >= deadline:
                self.get_logger().warning(
                    f"{self._publisher.get_subscription_count()} subscriber(s) on {self.topic_name} after "
                    f"{self.config.wait_for_subscribers_s:.1f} s; replaying anyway")
                return
            if self._stop.wait(0.02):
                return

    def _run(self) -> None:
        try:
            self._wait_for_subscribers()
            while not self._stop.is_set():
                self._replay_once()
                if not self.config.loop or self._reached_max():
                    break
            self._finish()
        except EdgeAiError as err:
            self.get_logger().error(f"replay stopped: {err}")
            self.finished.set()

    def _reached_max(self) -> bool:
        return 0 < self.config.max_frames <= len(self.published)

    def _replay_once(self) -> None:
        start_wall: float | None = None
        first_bag_ns = 0
        for index, (bag_ns, raw) in enumerate(iter_raw_messages(self.config.bag, self.bag_topic.name)):
            if self._stop.is_set() or self._reached_max():
                return
            prepared = self._prepare(raw)  # decode before the due time, so frames go out on time
            if start_wall is None:
                start_wall, first_bag_ns = time.monotonic(), bag_ns
            due = start_wall + self._offset_s(index, bag_ns - first_bag_ns)
            if self._stop.wait(max(0.0, due - time.monotonic())):
                return
            self._publish(index, bag_ns, prepared)

    def _offset_s(self, index: int, bag_offset_ns: int) -> float:
        if self.config.fps > 0.0:
            return index / self.config.fps
        return bag_offset_ns / 1e9 / self.config.rate

    def _prepare(self, raw: bytes) -> bytes | Image:
        """What goes out for one recorded message: its CDR bytes, or a decoded rgb8 Image."""
        if self.config.output_format == "compressed":
            return raw
        if self.bag_topic.msgtype == COMPRESSED_TYPE:
            return compressed_to_image(raw)
        return deserialize_message(raw, Image)

    def _publish(self, index: int, bag_ns: int, prepared: bytes | Image) -> None:
        now = self.get_clock().now()
        sec, nanosec = now.seconds_nanoseconds()
        if isinstance(prepared, bytes):
            self._publisher.publish(restamp_cdr(prepared, sec, nanosec) if self.config.restamp else prepared)
            sent_ns = now.nanoseconds if self.config.restamp else _cdr_stamp_ns(prepared)
        else:
            if self.config.restamp:
                prepared.header.stamp = now.to_msg()
            sent_ns = stamp_ns(prepared.header.stamp)
            self._publisher.publish(prepared)
        self.published.append(PublishedFrame(index=index, bag_time_ns=bag_ns, stamp_ns=sent_ns,
                                             published_at=time.monotonic()))

    def _finish(self) -> None:
        if self.config.qos_reliability == "reliable":
            self._publisher.wait_for_all_acked(rclpy.duration.Duration(seconds=2.0))
        self.get_logger().info(f"bag ended after {len(self.published)} frames")
        self.finished.set()
        self._done_pub.publish(Empty())


def _cdr_stamp_ns(raw: bytes) -> int:
    sec, nanosec = struct.unpack_from("<iI", raw, 4)
    return int(sec) * 1_000_000_000 + int(nanosec)


def main(args: Sequence[str] | None = None) -> int:
    """Console script ``camera_source``: replay until the bag ends (or Ctrl-C)."""
    from edge_ai_ros.ros.environment import apply_ros_env_defaults

    apply_ros_env_defaults()
    rclpy.init(args=list(args) if args is not None else sys.argv)
    executor = SingleThreadedExecutor()
    node: CameraSource | None = None
    try:
        node = CameraSource()
        executor.add_node(node)
        while rclpy.ok() and not node.finished.is_set():
            executor.spin_once(timeout_sec=0.1)
        return 0
    except EdgeAiError as err:
        print(f"camera_source: {err}", file=sys.stderr)
        return 1
    except (KeyboardInterrupt, ExternalShutdownException):
        return 0
    finally:
        if node is not None:
            node.destroy_node()
        executor.shutdown()
        rclpy.try_shutdown()


if __name__ == "__main__":
    sys.exit(main())
