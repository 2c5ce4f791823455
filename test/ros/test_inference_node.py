"""The inference node in its own process, driven over real rclpy topics and services."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

rclpy = pytest.importorskip("rclpy")
pytest.importorskip("edge_ai_ros.msg")

from lifecycle_msgs.msg import Transition  # noqa: E402
from node_harness import Harness, header, image_msg, wait_for  # noqa: E402
from sensor_msgs.msg import CompressedImage  # noqa: E402
from tiny_detector import build_detector  # noqa: E402

from edge_ai_ros.imaging.compressed import decode_compressed, encode_compressed  # noqa: E402
from edge_ai_ros.imaging.raw import RawImage, decode_raw, encode_raw  # noqa: E402
from edge_ai_ros.pipeline import Perception  # noqa: E402
from edge_ai_ros.ros.drivers.node_process import NodeLaunch, start_node, stop_node  # noqa: E402

BACKEND = "onnxruntime"  # exact FP32 in both processes, so boxes compare tightly
MAX_PIXELS = 400_000
NS = "/t_infer"
NODE = f"{NS}/inference_node"


def _scene(width: int = 640, height: int = 480) -> np.ndarray:
    rng = np.random.default_rng(7)
    rgb = rng.integers(0, 255, (height, width, 3), dtype=np.uint8)
    rgb[..., 0] //= 3  # unequal channel means, so a channel swap moves a box
    return rgb


@pytest.fixture(scope="module")
def manifest(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_detector(tmp_path_factory.mktemp("model"))


def _start(tmp: Path, name: str, **kwargs: Any) -> Any:
    params = {"backend": BACKEND, "diagnostics_period_s": 0.2, "max_image_pixels": MAX_PIXELS}
    params.update(kwargs.pop("parameters", {}))
    return start_node(NodeLaunch(parameters=params, log_path=tmp / f"{name}.log", **kwargs))


@pytest.fixture(scope="module")
def serving(manifest: Path, harness: Harness, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    proc = _start(tmp_path_factory.mktemp("logs"), "serving", namespace=NS,
                  parameters={"model_manifest": str(manifest)})
    harness.listen_detections(f"{NS}/detections")
    yield NS
    assert stop_node(proc) == 0


def _expected(manifest: Path, rgb: np.ndarray) -> list[tuple[int, float, tuple[float, ...]]]:
    with Perception(manifest, backend=BACKEND) as perception:
        result = perception.run(rgb)
    return [(d.class_id, d.score, d.box) for d in result.detections]


def _got(msg: Any) -> list[tuple[int, float, tuple[float, ...]]]:
    return [(d.class_id, d.score, (d.x_min, d.y_min, d.x_max, d.y_max)) for d in msg.detections]


def _assert_same(got: list[Any], expected: list[Any]) -> None:
    assert len(got) == len(expected) > 0
    for (gc, gs, gb), (ec, es, eb) in zip(got, expected, strict=True):
        assert gc == ec
        assert gs == pytest.approx(es, abs=1e-4)
        assert gb == pytest.approx(eb, abs=1e-2)


ENCODINGS = ["rgb8", "bgr8", "mono8", "rgba8", "bgra8"]


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_raw_image_answered_with_header_and_original_pixel_boxes(
    encoding: str, serving: str, harness: Harness, manifest: Path,
) -> None:
    raw = encode_raw(_scene(), encoding, row_padding=4)
    stamp = 1_700_000_000_123_456_789 + ENCODINGS.index(encoding)
    msg = image_msg(raw, header(stamp, frame_id=f"cam_{encoding}"))
    answer = harness.send_until_answered(f"{serving}/image", msg, f"{serving}/detections")
    assert answer.header.frame_id == f"cam_{encoding}"
    assert answer.model_id == "tiny-detector"
    rgb = np.ascontiguousarray(decode_raw(**raw.fields()))
    _assert_same(_got(answer), _expected(manifest, rgb))
    assert max(d.x_max for d in answer.detections) > 32  # original 640x480 pixels, not 32x32 input


def test_jpeg_compressed_image_is_answered(serving: str, harness: Harness, manifest: Path) -> None:
    data = encode_compressed(_scene(), "jpeg")
    msg = CompressedImage(header=header(1_700_000_001_000_000_000, "cam_jpeg"), format="jpeg", data=data)
    answer = harness.send_until_answered(f"{serving}/image/compressed", msg, f"{serving}/detections")
    assert answer.header.frame_id == "cam_jpeg"
    _assert_same(_got(answer), _expected(manifest, decode_compressed(format="jpeg", data=data)))


def _bad_inputs() -> dict[str, tuple[Any, str]]:
    good = encode_raw(_scene(64, 48), "rgb8")
    fields = good.fields()
    return {
        "unknown encoding": (RawImage(**{**fields, "encoding": "yuv422"}), "encoding"),
        "step too small": (RawImage(**{**fields, "step": 10}), "step"),
        "data length": (RawImage(**{**fields, "data": good.data[:-7]}), "data"),
        "zero size": (RawImage(encoding="rgb8", width=0, height=0, step=0, is_bigendian=0, data=b""), "width"),
        "huge frame": (RawImage(encoding="mono8", width=1000, height=1000, step=1000, is_bigendian=0,
                                data=bytes(1_000_000)), "width"),
        "corrupt jpeg": (b"\xff\xd8\xff\xe0 this is not a jpeg", "data"),
    }


@pytest.mark.parametrize("case", list(_bad_inputs()))
def test_bad_input_is_rejected_counted_and_node_keeps_serving(case: str, serving: str, harness: Harness) -> None:
    bad, field = _bad_inputs()[case]
    diag = NODE
    before = int(wait_for(lambda: harness.latest_diagnostics(diag))["frames_rejected"])
    if isinstance(bad, bytes):
        msg: Any = CompressedImage(header=header(1), format="jpeg", data=bad)
        pub = harness.publisher(f"{serving}/image/compressed", compressed=True)
    else:
        msg = image_msg(bad, header(1))
        pub = harness.publisher(f"{serving}/image")
    wait_for(lambda: pub.get_subscription_count() > 0)

    def rejected() -> dict[str, str] | None:
        status = harness.latest_diagnostics(diag)
        if status and int(status["frames_rejected"]) > before:
            return status
        pub.publish(msg)  # best effort: send again until the node has seen it
        return None

    status = wait_for(rejected, poll_s=0.2)
    assert status["last_rejection"].startswith(f"{field}:")
    assert not status["last_rejection"].startswith(f"{field}: {field}:")  # the field is named once
    good = image_msg(encode_raw(_scene(), "rgb8"), header(1_700_000_002_000_000_000 + list(_bad_inputs()).index(case)))
    assert harness.send_until_answered(f"{serving}/image", good, f"{serving}/detections").detections


def test_diagnostics_report_counts_latency_model_and_backend(serving: str, harness: Harness) -> None:
    good = image_msg(encode_raw(_scene(), "rgb8"), header(1_700_000_003_000_000_000))
    harness.send_until_answered(f"{serving}/image", good, f"{serving}/detections")
    status = wait_for(lambda: (s := harness.latest_diagnostics(NODE)) and "inference_ms_p99" in s and s)
    assert status["model_id"] == "tiny-detector"
    assert status["backend"] == BACKEND
    assert status["state"] == "active"
    assert int(status["frames_out"]) >= 1
    for key in ("preprocess_ms_p50", "postprocess_ms_p99", "input_age_ms_p50", "frames_dropped"):
        assert key in status
    from edge_ai_ros.host import host_features  # the CPU it serves on, as this host reports it

    assert status["host_cpu_flags"] == ",".join(host_features().sorted_flags())
    assert status["host_capabilities"] == ",".join(sorted(host_features().capabilities()))


@pytest.mark.parametrize(("name", "value", "reason"), [
    ("score_threshold", 1.5, "range|bound"),
    ("max_image_pixels", 0, "range|bound"),
    ("backend", "cuda", "read at configure"),
    ("autostart", False, "read-only|read only"),
    ("frame_executor", "single", "read at configure"),
])
def test_bad_parameter_values_are_refused_with_a_reason(
    name: str, value: Any, reason: str, serving: str, harness: Harness,
) -> None:
    result = harness.set_parameter(NODE, name, value)
    assert not result.successful
    assert re.search(reason, result.reason, re.IGNORECASE), result.reason


def test_thresholds_and_pixel_limit_change_live_from_the_next_frame(
    serving: str, harness: Harness, manifest: Path,
) -> None:
    scene = _scene()
    full = _expected(manifest, scene)
    assert {d[1] > 0.5 for d in full} == {True, False}  # the frame has detections on both sides of 0.5

    def answer(stamp: int) -> list[Any]:
        msg = image_msg(encode_raw(scene, "rgb8"), header(stamp, "cam_live"))
        return _got(harness.send_until_answered(f"{serving}/image", msg, f"{serving}/detections"))

    try:
        assert harness.set_parameter(NODE, "score_threshold", 0.5).successful
        _assert_same(answer(1_700_000_005_000_000_001), [d for d in full if d[1] > 0.5])
        assert harness.set_parameter(NODE, "max_image_pixels", 1000).successful
        before = int(wait_for(lambda: harness.latest_diagnostics(NODE))["frames_rejected"])
        pub = harness.publisher(f"{serving}/image")

        def rejected() -> dict[str, str] | None:
            status = harness.latest_diagnostics(NODE)
            if status and int(status["frames_rejected"]) > before:
                return status
            pub.publish(image_msg(encode_raw(scene, "rgb8"), header(1_700_000_005_000_000_002)))
            return None

        assert wait_for(rejected, poll_s=0.2)["last_rejection"].startswith("width:")
    finally:
        assert harness.set_parameter(NODE, "score_threshold", -1.0).successful
        assert harness.set_parameter(NODE, "max_image_pixels", MAX_PIXELS).successful
    _assert_same(answer(1_700_000_005_000_000_003), full)  # -1: the manifest's threshold again


def test_remap_and_namespace(manifest: Path, harness: Harness, tmp_path: Path) -> None:
    # frames taken by the SingleThreadedExecutor here; every other node test uses the default (events)
    proc = _start(tmp_path, "remap", namespace="/t_remap", remaps={"detections": "/t_remap_out/dets"},
                  parameters={"model_manifest": str(manifest), "frame_executor": "single"})
    try:
        harness.listen_detections("/t_remap_out/dets")
        msg = image_msg(encode_raw(_scene(), "rgb8"), header(1_700_000_004_000_000_000))
        assert harness.send_until_answered("/t_remap/image", msg, "/t_remap_out/dets").model_id == "tiny-detector"
    finally:
        assert stop_node(proc) == 0
    assert "frame executor single" in (tmp_path / "remap.log").read_text()


def test_lifecycle_transitions_failures_and_invalid_ids(manifest: Path, harness: Harness, tmp_path: Path) -> None:
    node = "/t_life/inference_node"
    proc = _start(tmp_path, "life", namespace="/t_life",
                  parameters={"autostart": False, "model_manifest": str(tmp_path / "missing.manifest.json")})
    try:
        assert harness.get_state(node) == "unconfigured"
        # an id that is not a transition from unconfigured: refused, and the node keeps serving
        assert not harness.change_state(node, Transition.TRANSITION_ACTIVATE)
        assert not harness.change_state(node, 99)
        assert harness.get_state(node) == "unconfigured"
        assert not harness.change_state(node, Transition.TRANSITION_CONFIGURE)  # missing manifest
        assert harness.get_state(node) == "unconfigured"
        assert harness.set_parameter(node, "model_manifest", str(manifest)).successful
        assert harness.change_state(node, Transition.TRANSITION_CONFIGURE)
        assert harness.get_state(node) == "inactive"
        assert harness.change_state(node, label="activate")
        harness.listen_detections("/t_life/detections")
        msg = image_msg(encode_raw(_scene(), "rgb8"), header(1_700_000_005_000_000_000))
        harness.send_until_answered("/t_life/image", msg, "/t_life/detections")
        assert harness.change_state(node, Transition.TRANSITION_DEACTIVATE)
        assert harness.get_state(node) == "inactive"
        assert not harness.change_state(node, Transition.TRANSITION_DEACTIVATE)  # invalid from inactive
        assert harness.change_state(node, Transition.TRANSITION_CLEANUP)
        assert harness.get_state(node) == "unconfigured"
        assert harness.change_state(node, Transition.TRANSITION_CONFIGURE)
        assert harness.change_state(node, Transition.TRANSITION_ACTIVATE)
        msg = image_msg(encode_raw(_scene(), "rgb8"), header(1_700_000_006_000_000_000))
        harness.send_until_answered("/t_life/image", msg, "/t_life/detections")
        assert harness.change_state(node, Transition.TRANSITION_ACTIVE_SHUTDOWN)
        assert harness.get_state(node) == "finalized"
    finally:
        assert stop_node(proc) == 0

