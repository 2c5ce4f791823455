"""A YOLOv8-seg model served by the node: detections plus a mono8 instance-id mask of the same frame."""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

rclpy = pytest.importorskip("rclpy")
pytest.importorskip("edge_ai_ros.msg")

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "decoders"))

from layout_models import CLASSES, build  # noqa: E402
from node_harness import Harness, header, image_msg, init_context, stamp_ns, wait_for  # noqa: E402
from sensor_msgs.msg import Image  # noqa: E402

from edge_ai_ros.imaging.raw import encode_raw  # noqa: E402
from edge_ai_ros.inspection.model import inspect_onnx, write_manifest  # noqa: E402
from edge_ai_ros.pipeline import Perception  # noqa: E402
from edge_ai_ros.ros.drivers.node_process import NodeLaunch, start_node, stop_node  # noqa: E402
from edge_ai_ros.ros.environment import apply_ros_env_defaults  # noqa: E402
from edge_ai_ros.ros.qos import output_qos  # noqa: E402

NS = "/t_masks"


@pytest.fixture
def harness() -> Iterator[Harness]:
    apply_ros_env_defaults()
    context = init_context(int(os.environ.get("ROS_DOMAIN_ID", "0")))
    h = Harness(context)
    yield h
    h.close()
    rclpy.try_shutdown(context=context)


def test_seg_model_publishes_an_instance_mask_matching_its_detections(harness: Harness, tmp_path: Path) -> None:
    labels = tmp_path / "labels.txt"
    labels.write_text("\n".join(CLASSES) + "\n")
    manifest = write_manifest(inspect_onnx(build("yolov8_seg", tmp_path / "seg.onnx"), labels_file=str(labels)))
    masks: list[Image] = []
    lock = threading.Lock()

    def keep(msg: Image) -> None:
        with lock:
            masks.append(msg)

    harness.node.create_subscription(Image, f"{NS}/instance_masks", keep, output_qos())
    harness.listen_detections(f"{NS}/detections")
    proc = start_node(NodeLaunch(parameters={"backend": "onnxruntime", "model_manifest": str(manifest)},
                                 log_path=tmp_path / "node.log", namespace=NS))
    try:
        rgb = np.random.default_rng(3).integers(0, 256, (60, 96, 3), dtype=np.uint8)
        msg = image_msg(encode_raw(rgb, "rgb8"), header(1_700_000_000_000_000_042))
        answer = harness.send_until_answered(f"{NS}/image", msg, f"{NS}/detections")

        def mask_of_frame() -> Image | None:
            with lock:
                return next((m for m in masks if stamp_ns(m.header) == stamp_ns(msg.header)), None)

        mask_msg = wait_for(mask_of_frame)
    finally:
        assert stop_node(proc) == 0
    assert (mask_msg.encoding, mask_msg.width, mask_msg.height) == ("mono8", 96, 60)
    mask = np.frombuffer(bytes(mask_msg.data), np.uint8).reshape(60, mask_msg.step)[:, :96]
    with Perception(manifest, backend="onnxruntime") as perception:
        expected = perception.run(rgb)
    np.testing.assert_array_equal(mask, expected.mask)
    assert set(np.unique(mask)) == set(range(len(answer.detections) + 1))  # pixel k = the k-th detection
