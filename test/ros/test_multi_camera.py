"""Many cameras in one inference node process, driven over real rclpy topics and services."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

rclpy = pytest.importorskip("rclpy")
pytest.importorskip("edge_ai_ros.msg")

from node_harness import Harness, header, image_msg, stamp_ns, wait_for  # noqa: E402
from sensor_msgs.msg import CompressedImage  # noqa: E402
from tiny_detector import build_detector  # noqa: E402

from edge_ai_ros.imaging.compressed import decode_compressed, encode_compressed  # noqa: E402
from edge_ai_ros.imaging.raw import RawImage, decode_raw, encode_raw  # noqa: E402
from edge_ai_ros.pipeline import Perception  # noqa: E402
from edge_ai_ros.ros.drivers.node_process import NodeLaunch, start_node, stop_node  # noqa: E402

BACKEND = "onnxruntime"
NS = "/t_multi"
NODE = f"{NS}/inference_node"
CAMS = ("front", "left", "right")
STREAM_S = 3.0


def _scene(seed: int, width: int, height: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    rgb = rng.integers(0, 255, (height, width, 3), dtype=np.uint8)
    rgb[..., 0] //= 1 + seed % 3  # a different box per camera
    return rgb


@pytest.fixture(scope="module")
def manifest(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_detector(tmp_path_factory.mktemp("model"), dynamic_batch=True)


def _start(tmp: Path, name: str, manifest: Path, namespace: str = NS, **params: Any) -> Any:
    values = {"backend": BACKEND, "diagnostics_period_s": 0.2, "max_image_pixels": 2_000_000,
              "model_manifest": str(manifest), "cameras": list(CAMS), "batch_timeout_ms": 5.0, **params}
    return start_node(NodeLaunch(parameters=values, namespace=namespace, log_path=tmp / f"{name}.log"))


@pytest.fixture(scope="module")
def serving(manifest: Path, harness: Harness, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    proc = _start(tmp_path_factory.mktemp("logs"), "multi", manifest)
    for cam in CAMS:
        harness.listen_detections(f"{NS}/{cam}/detections")
    yield NS
    assert stop_node(proc) == 0


def _topic(cam: str, msg: Any) -> str:
    return f"{NS}/{cam}/image_raw" + ("/compressed" if isinstance(msg, CompressedImage) else "")


def _send_all_until_answered(harness: Harness, msgs: dict[str, Any]) -> dict[str, Any]:
    """Publish one frame per camera together (one batch) until each camera's answer came back."""
    pubs = {cam: harness.publisher(_topic(cam, m), compressed=isinstance(m, CompressedImage))
            for cam, m in msgs.items()}
    for pub in pubs.values():
        wait_for(lambda pub=pub: pub.get_subscription_count() > 0)
    answers: dict[str, Any] = {}

    def answered() -> bool:
        for cam, msg in msgs.items():
            got = harness.answer(f"{NS}/{cam}/detections", stamp_ns(msg.header))
            if got is not None:
                answers[cam] = got
        if len(answers) == len(msgs):
            return True
        for cam, msg in msgs.items():
            if cam not in answers:
                pubs[cam].publish(msg)  # best effort: send again until answered
        return False

    wait_for(answered, poll_s=0.3)
    return answers


def _boxes(msg: Any) -> np.ndarray:
    return np.asarray([(d.class_id, d.x_min, d.y_min, d.x_max, d.y_max) for d in msg.detections])


def _expected(manifest: Path, rgb: np.ndarray) -> np.ndarray:
    with Perception(manifest, backend=BACKEND) as perception:
        return np.asarray([(d.class_id, *d.box) for d in perception.run(rgb).detections])


def test_cameras_of_different_sizes_and_encodings_are_each_answered_with_their_own_header(
    serving: str, harness: Harness, manifest: Path,
) -> None:
    front = encode_raw(_scene(0, 640, 480), "rgb8", row_padding=4)
    left = encode_raw(_scene(1, 320, 240), "bgr8")
    right_jpeg = encode_compressed(_scene(2, 800, 600), "jpeg")
    base = 1_700_000_100_000_000_000
    msgs = {"front": image_msg(front, header(base + 1, "front_optical")),
            "left": image_msg(left, header(base + 2, "left_optical")),
            "right": CompressedImage(header=header(base + 3, "right_optical"), format="jpeg", data=right_jpeg)}
    answers = _send_all_until_answered(harness, msgs)
    images = {"front": np.ascontiguousarray(decode_raw(**front.fields())),
              "left": np.ascontiguousarray(decode_raw(**left.fields())),
              "right": decode_compressed(format="jpeg", data=right_jpeg)}
    for cam in CAMS:
        assert answers[cam].header.frame_id == f"{cam}_optical"
        assert stamp_ns(answers[cam].header) == stamp_ns(msgs[cam].header)
        got, expected = _boxes(answers[cam]), _expected(manifest, images[cam])
        assert got.shape == expected.shape and len(got) > 0
        np.testing.assert_allclose(got, expected, atol=1e-2)  # each in its own camera's pixels


def _camera_status(harness: Harness) -> dict[str, str]:
    return wait_for(lambda: harness.latest_diagnostics(f"{NODE}/cameras"))


class Streamer:
    """Publishes small raw frames on some cameras at given rates from one thread; counts what it sent."""

    def __init__(self, harness: Harness, rates_hz: dict[str, float], stamp_base: int) -> None:
        self._pubs = {cam: harness.publisher(f"{NS}/{cam}/image_raw") for cam in rates_hz}
        for pub in self._pubs.values():
            wait_for(lambda pub=pub: pub.get_subscription_count() > 0)
        self._rates, self._base = rates_hz, stamp_base
        self.sent = dict.fromkeys(rates_hz, 0)
        self._raw = encode_raw(_scene(5, 64, 48), "rgb8")
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        start = time.monotonic()
        next_at = dict.fromkeys(self._rates, start)
        while not self._stop.is_set():
            now = time.monotonic()
            for cam, rate in self._rates.items():
                if now >= next_at[cam]:
                    self.sent[cam] += 1
                    stamp = self._base + self.sent[cam] * int(1e9 / rate)  # a camera's own period
                    self._pubs[cam].publish(image_msg(self._raw, header(stamp, cam)))
                    next_at[cam] += 1.0 / rate
            time.sleep(0.002)

    def __enter__(self) -> Streamer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5.0)


def _answered(harness: Harness, cam: str, base: int) -> int:
    return sum(1 for m in harness.received(f"{NS}/{cam}/detections") if stamp_ns(m.header) > base)


def test_a_flooding_camera_and_a_silent_one_do_not_starve_the_others(serving: str, harness: Harness) -> None:
    base = 1_700_000_200_000_000_000
    before = _camera_status(harness)
    with Streamer(harness, {"front": 20.0, "right": 150.0}, base) as streamer:  # left stays silent
        time.sleep(STREAM_S)
    front = _answered(harness, "front", base)
    assert front >= 0.5 * streamer.sent["front"] > 0  # generous: best effort on a shared CPU
    assert _answered(harness, "right", base) > 0
    after = wait_for(lambda: (s := _camera_status(harness)) and int(s["right.received"]) > int(before["right.received"])
                     and s)
    assert int(after["right.received"]) - int(before["right.received"]) > int(after["right.answered"]) - int(
        before["right.answered"])  # the flood is thinned to what the engine takes
    assert int(after["right.dropped_superseded"]) > int(before["right.dropped_superseded"])
    assert after["left.answered"] == before["left.answered"]
    assert int(after["batches"]) > 0 and int(after["batch_size_max"]) <= 3


def _bad_inputs() -> dict[str, Any]:
    good = encode_raw(_scene(3, 64, 48), "rgb8")
    fields = good.fields()
    return {
        "unknown encoding": RawImage(**{**fields, "encoding": "yuv422"}),
        "data length": RawImage(**{**fields, "data": good.data[:-7]}),
        "huge frame": RawImage(encoding="mono8", width=2000, height=2000, step=2000, is_bigendian=0,
                               data=bytes(4_000_000)),
        "corrupt jpeg": b"\xff\xd8\xff\xe0 this is not a jpeg",
    }


@pytest.mark.parametrize("case", list(_bad_inputs()))
def test_a_bad_frame_is_counted_on_its_camera_and_the_others_keep_being_answered(
    case: str, serving: str, harness: Harness,
) -> None:
    bad = _bad_inputs()[case]
    if isinstance(bad, bytes):
        msg: Any = CompressedImage(header=header(7, "left"), format="jpeg", data=bad)
    else:
        msg = image_msg(bad, header(7, "left"))
    pub = harness.publisher(_topic("left", msg), compressed=isinstance(msg, CompressedImage))
    wait_for(lambda: pub.get_subscription_count() > 0)
    before = _camera_status(harness)
    base = 1_700_000_300_000_000_000 + 100_000_000_000 * list(_bad_inputs()).index(case)

    def counted() -> dict[str, str] | None:
        status = harness.latest_diagnostics(f"{NODE}/cameras")
        if status and int(status["left.dropped_bad_frame"]) > int(before["left.dropped_bad_frame"]):
            return status
        pub.publish(msg)
        return None

    with Streamer(harness, {"front": 20.0, "right": 20.0}, base):
        status = wait_for(counted, poll_s=0.2)
        wait_for(lambda: _answered(harness, "front", base) > 3 and _answered(harness, "right", base) > 3)
    assert status["front.dropped_bad_frame"] == before["front.dropped_bad_frame"]
    assert status["right.dropped_bad_frame"] == before["right.dropped_bad_frame"]
    good = image_msg(encode_raw(_scene(4, 64, 48), "rgb8"), header(base + 999, "left"))
    assert _send_all_until_answered(harness, {"left": good})["left"].detections  # the camera itself recovers


def test_a_hot_swap_while_three_cameras_stream_keeps_every_camera_answered(
    serving: str, harness: Harness, tmp_path: Path,
) -> None:
    from edge_ai_ros.srv import SwapModel

    shifted = build_detector(tmp_path / "shifted", "tiny-shifted", box_shift=4.0, dynamic_batch=True)
    base = 1_700_000_400_000_000_000
    with Streamer(harness, dict.fromkeys(CAMS, 20.0), base):
        wait_for(lambda: all(_answered(harness, cam, base) >= 3 for cam in CAMS))
        response = harness.call(SwapModel, f"{NODE}/swap_model",
                                SwapModel.Request(manifest_path=str(shifted), backend=""), timeout_s=30.0)
        assert response.success, response.message

        def after_swap(cam: str) -> int:
            return sum(1 for m in harness.received(f"{NS}/{cam}/detections")
                       if stamp_ns(m.header) > base and m.model_id == "tiny-shifted")

        wait_for(lambda: all(after_swap(cam) >= 3 for cam in CAMS))
    for cam in CAMS:
        ids = [m.model_id for m in harness.received(f"{NS}/{cam}/detections") if stamp_ns(m.header) > base]
        switch = ids.index("tiny-shifted")
        assert switch >= 3 and set(ids[:switch]) == {"tiny-detector"} and set(ids[switch:]) == {"tiny-shifted"}


def test_bad_camera_parameters_fail_configure_with_the_parameter_named(
    manifest: Path, harness: Harness, tmp_path: Path,
) -> None:
    proc = _start(tmp_path, "badcams", manifest, namespace="/t_multi_bad", camera_priorities=[2, 1])
    try:
        log = tmp_path / "badcams.log"
        wait_for(lambda: "configure failed" in log.read_text())
        assert harness.get_state("/t_multi_bad/inference_node") == "unconfigured"
    finally:
        assert stop_node(proc) == 0
    text = log.read_text()
    assert "camera_priorities: has 2 values for 3 cameras" in text and "fix: give one priority per camera" in text


def test_deactivate_and_activate_again_serves_every_camera(manifest: Path, harness: Harness, tmp_path: Path) -> None:
    from lifecycle_msgs.msg import Transition

    ns, node = "/t_multi_life", "/t_multi_life/inference_node"
    proc = _start(tmp_path, "life", manifest, namespace=ns, cameras=["a", "b"])
    try:
        for cam in ("a", "b"):
            harness.listen_detections(f"{ns}/{cam}/detections")
        for round_ in range(2):
            for cam in ("a", "b"):
                msg = image_msg(encode_raw(_scene(round_, 64, 48), "rgb8"), header(1_700_000_500_000_000_000 + round_))
                harness.send_until_answered(f"{ns}/{cam}/image_raw", msg, f"{ns}/{cam}/detections")
            if round_ == 0:
                assert harness.change_state(node, Transition.TRANSITION_DEACTIVATE)
                assert harness.change_state(node, Transition.TRANSITION_ACTIVATE)
    finally:
        assert stop_node(proc) == 0
