"""The replayer's own contract: every frame answered once, in order, whatever ``max_in_flight``;
a frame the node never answers is given up after ``frame_timeout_s`` and the replay goes on."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("rclpy")
pytest.importorskip("edge_ai_ros.msg")

from replay_bags import START_NS, STORE, TOPIC, write_bag  # noqa: E402
from tiny_detector import build_detector  # noqa: E402

from edge_ai_ros.bags.results_bag import decode_detection_array, encode_detection_array  # noqa: E402
from edge_ai_ros.bags.source import COMPRESSED, BagSource, Frame  # noqa: E402
from edge_ai_ros.errors import ConfigError  # noqa: E402
from edge_ai_ros.replay.player import ReplayerConfig, ReplayOutcome  # noqa: E402
from edge_ai_ros.results import FrameDetections  # noqa: E402
from edge_ai_ros.ros.drivers.bag_replayer import _Collector, replay_frames  # noqa: E402
from edge_ai_ros.ros.drivers.replay_stages import ROS_PATH_STAGES  # noqa: E402


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_detector(tmp_path_factory.mktemp("model"))


@pytest.fixture(scope="module")
def frames(tmp_path_factory: pytest.TempPathFactory) -> list[Frame]:
    bag = write_bag(tmp_path_factory.mktemp("bag") / "bag", frames=14, compressed=True)
    return list(BagSource(bag, TOPIC).frames())


def _not_an_image(index: int) -> Frame:
    """A CompressedImage whose bytes are no PNG: the node rejects it and publishes nothing."""
    t_ns = START_NS + index * 50_000_000
    types = STORE.types
    header = types["std_msgs/msg/Header"](
        stamp=types["builtin_interfaces/msg/Time"](sec=t_ns // 10**9, nanosec=t_ns % 10**9), frame_id="camera")
    msg = types["sensor_msgs/msg/CompressedImage"](
        header=header, format="png", data=np.frombuffer(b"not a png at all", np.uint8))
    data = bytes(STORE.serialize_cdr(msg, COMPRESSED))
    return Frame(index=index, log_time_ns=t_ns, stamp_ns=t_ns, data=data)


def _replay(frames: list[Frame], model: Path, **config: object) -> ReplayOutcome:
    return replay_frames(frames, msgtype=COMPRESSED, manifest=str(model), backend="onnxruntime",
                         config=ReplayerConfig(frame_timeout_s=5.0, **config))  # type: ignore[arg-type]


def test_frames_in_flight_do_not_change_the_outputs_or_their_order(frames: list[Frame], model: Path) -> None:
    one = _replay(frames, model, max_in_flight=1)
    many = _replay(frames, model, max_in_flight=12)  # more than the default history depth of 10
    for outcome in (one, many):
        assert outcome.frames_published == 14 and not outcome.unanswered and outcome.unexpected_outputs == 0
        assert [o.index for o in outcome.outputs] == list(range(14))
        assert [o.stamp_ns for o in outcome.outputs] == [f.stamp_ns for f in frames]
        assert all(o.latency_s > 0 for o in outcome.outputs)
    assert [o.data for o in one.outputs] == [o.data for o in many.outputs]
    assert all(decode_detection_array(o.data).detections for o in one.outputs)


def test_every_output_carries_its_stages_which_add_up_to_its_latency(frames: list[Frame], model: Path) -> None:
    outcome = _replay(frames, model)
    for o in outcome.outputs:
        stages = o.stages_ms
        assert stages["total"] == pytest.approx(o.latency_s * 1e3)
        # transport_out is left out: the node stamps "published" after publish() returns, which the
        # replayer's thread may beat by a few microseconds.
        assert all(stages[name] >= 0 for name in ("transport_in", "queue_wait", "conversion", "inference", "total"))
        assert stages["ros_path"] == pytest.approx(sum(stages[name] for name in ROS_PATH_STAGES))
        parts = stages["transport_in"] + stages["node_total"] + stages["transport_out"]
        assert parts == pytest.approx(stages["total"], abs=1e-6)  # one clock: no gap, no overlap
    off = _replay(frames[:3], model, stage_timings=False)
    assert len(off.outputs) == 3 and all(o.stages_ms == {} for o in off.outputs)


def test_a_frame_without_output_is_given_up_after_the_timeout_and_replay_goes_on(frames: list[Frame],
                                                                                model: Path) -> None:
    played = [*frames[:3], _not_an_image(3), *(Frame(index=f.index + 1, log_time_ns=f.log_time_ns,
                                                      stamp_ns=f.stamp_ns, data=f.data) for f in frames[3:6])]
    outcome = replay_frames(played, msgtype=COMPRESSED, manifest=str(model), backend="onnxruntime",
                            config=ReplayerConfig(frame_timeout_s=0.5))
    assert outcome.frames_published == 7 and outcome.unanswered == (3,)
    assert [o.index for o in outcome.outputs] == [0, 1, 2, 4, 5, 6]


def _output(stamp_ns: int) -> bytes:
    return encode_detection_array(FrameDetections(index=0, stamp_ns=stamp_ns), model_id="m")


def test_collector_matches_by_stamp_counts_strays_and_gives_up_the_oldest_first() -> None:
    collector = _Collector()
    first, second, third = (Frame(index=i, log_time_ns=i, stamp_ns=START_NS + i, data=b"") for i in range(3))
    for at, frame in enumerate((first, second, third), start=1):
        collector.sent(frame, at=float(at))
    assert collector.in_flight == 3 and collector.oldest_sent_at() == 1.0
    assert collector.drop_oldest() == 0
    collector.received(_output(START_NS + 2))
    collector.received(_output(START_NS))  # given up already: a stray, not an answer
    assert collector.in_flight == 1 and collector.oldest_sent_at() == 2.0 and collector.unexpected == 1
    assert [(o.index, o.stamp_ns) for o in collector.outputs] == [(2, START_NS + 2)]


@pytest.mark.parametrize("in_flight", [0, 1001])
def test_config_refuses_frames_in_flight_no_queue_can_hold(in_flight: int) -> None:
    with pytest.raises(ConfigError, match=r"max_in_flight: must be 1\.\.1000"):
        ReplayerConfig(max_in_flight=in_flight)
