"""camera_source replays a bag's frames over real rclpy topics: order, count, stamps, bytes."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

rclpy = pytest.importorskip("rclpy")

from image_bags import FRAME_ID, TOPIC, write_image_bag  # noqa: E402
from rclpy.executors import SingleThreadedExecutor  # noqa: E402
from rclpy.parameter import Parameter  # noqa: E402
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy  # noqa: E402
from sensor_msgs.msg import CompressedImage, Image  # noqa: E402
from std_msgs.msg import Empty  # noqa: E402

from edge_ai_ros.errors import BagError, ConfigError  # noqa: E402
from edge_ai_ros.ros.camera_source import CameraSource, iter_raw_messages, restamp_cdr  # noqa: E402
from edge_ai_ros.ros.environment import apply_ros_env_defaults  # noqa: E402

apply_ros_env_defaults()
RELIABLE = QoSProfile(depth=50, reliability=ReliabilityPolicy.RELIABLE)
LATCHED = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL)


@pytest.fixture
def ros() -> Iterator[tuple[object, SingleThreadedExecutor]]:
    ctx = rclpy.Context()
    rclpy.init(context=ctx)
    executor = SingleThreadedExecutor(context=ctx)
    yield ctx, executor
    for node in list(executor.get_nodes()):
        executor.remove_node(node)
        node.destroy_node()
    executor.shutdown()
    rclpy.try_shutdown(context=ctx)


def _spin_until(executor: SingleThreadedExecutor, done: Callable[[], bool], timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not done():
        assert time.monotonic() < deadline, "timed out"
        executor.spin_once(timeout_sec=0.05)


def _source(ctx: object, **params: object) -> CameraSource:
    overrides = [Parameter(k, value=v) for k, v in params.items()]
    return CameraSource(parameter_overrides=overrides, context=ctx)


@pytest.mark.parametrize("storage", ["sqlite3", "mcap"])
def test_raw_output_publishes_every_frame_in_order_restamped(ros, tmp_path: Path, storage: str) -> None:
    ctx, executor = ros
    bag = write_image_bag(tmp_path / "bag", frames=8, hz=100.0, storage=storage)
    listener = rclpy.create_node("listener", context=ctx)
    got: list[Image] = []
    done: list[Empty] = []
    listener.create_subscription(Image, "image", got.append, RELIABLE)
    listener.create_subscription(Empty, "camera_source/done", done.append, LATCHED)
    executor.add_node(listener)
    before_ns = listener.get_clock().now().nanoseconds
    source = _source(ctx, bag=str(bag), qos_reliability="reliable", qos_depth=20)
    executor.add_node(source)
    _spin_until(executor, lambda: bool(done) and len(got) == 8)
    assert source.finished.is_set()
    reds = [int(np.frombuffer(m.data, np.uint8).reshape(m.height, m.width, 3)[0, 0, 0]) for m in got]
    assert reds == [i * 10 for i in range(8)]
    assert {m.encoding for m in got} == {"rgb8"} and {m.frame_id for m in (g.header for g in got)} == {FRAME_ID}
    stamps = [m.header.stamp.sec * 10**9 + m.header.stamp.nanosec for m in got]
    assert stamps == sorted(stamps) and stamps[0] >= before_ns
    assert [p.stamp_ns for p in source.published] == stamps


def test_compressed_passthrough_is_byte_identical_with_recorded_stamps(ros, tmp_path: Path) -> None:
    ctx, executor = ros
    bag = write_image_bag(tmp_path / "bag", frames=5, hz=100.0)
    recorded = [raw for _, raw in iter_raw_messages(str(bag), TOPIC)]
    listener = rclpy.create_node("listener", context=ctx)
    got: list[bytes] = []
    listener.create_subscription(CompressedImage, "image/compressed", got.append, RELIABLE, raw=True)
    executor.add_node(listener)
    source = _source(ctx, bag=str(bag), output_format="compressed", restamp=False, qos_reliability="reliable")
    executor.add_node(source)
    _spin_until(executor, lambda: source.finished.is_set() and len(got) == 5)
    assert got == recorded
    assert [p.bag_time_ns for p in source.published] == [p.stamp_ns for p in source.published]


def test_replay_follows_bag_timing_scaled_by_rate(ros, tmp_path: Path) -> None:
    ctx, executor = ros
    bag = write_image_bag(tmp_path / "bag", frames=6, hz=10.0)  # 0.5 s of recording
    source = _source(ctx, bag=str(bag), rate=2.0, min_subscribers=0)
    executor.add_node(source)
    _spin_until(executor, source.finished.is_set)
    span = source.published[-1].published_at - source.published[0].published_at
    assert 0.2 <= span < 0.5, f"0.5 s of bag at rate 2 took {span:.3f} s"


def test_loop_and_max_frames_bound_the_replay(ros, tmp_path: Path) -> None:
    ctx, executor = ros
    bag = write_image_bag(tmp_path / "bag", frames=3, hz=200.0)
    source = _source(ctx, bag=str(bag), loop=True, max_frames=7, min_subscribers=0)
    executor.add_node(source)
    _spin_until(executor, source.finished.is_set)
    assert [p.index for p in source.published] == [0, 1, 2, 0, 1, 2, 0]


def test_restamp_cdr_rewrites_only_the_stamp(tmp_path: Path) -> None:
    bag = write_image_bag(tmp_path / "bag", frames=1)
    (_, raw), = iter_raw_messages(str(bag), TOPIC)
    out = restamp_cdr(raw, 12, 34)
    from rclpy.serialization import deserialize_message

    msg = deserialize_message(out, CompressedImage)
    assert (msg.header.stamp.sec, msg.header.stamp.nanosec) == (12, 34)
    assert out[12:] == raw[12:] and len(out) == len(raw)


def test_missing_topic_is_a_bag_error_naming_the_topics(ros, tmp_path: Path) -> None:
    ctx, _ = ros
    bag = write_image_bag(tmp_path / "bag", frames=1)
    with pytest.raises(BagError, match=r"no image topic '/nope'.*/camera/image_raw/compressed"):
        _source(ctx, bag=str(bag), topic="/nope")


def test_bad_parameters_are_refused_with_the_field(ros, tmp_path: Path) -> None:
    ctx, _ = ros
    with pytest.raises(BagError, match="not a rosbag2 directory"):
        _source(ctx, bag=str(tmp_path / "missing"))
    bag = write_image_bag(tmp_path / "bag", frames=1)
    with pytest.raises(ConfigError, match="output_format"):
        _source(ctx, bag=str(bag), output_format="h264")


def test_parameters_are_read_only_after_start(ros, tmp_path: Path) -> None:
    ctx, executor = ros
    bag = write_image_bag(tmp_path / "bag", frames=1)
    source = _source(ctx, bag=str(bag), autostart=False)
    executor.add_node(source)
    result = source.set_parameters([Parameter("rate", value=3.0)])[0]
    assert not result.successful and "read-only" in result.reason
