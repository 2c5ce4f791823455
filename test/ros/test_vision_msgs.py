"""detections_vision: vision_msgs/Detection2DArray published beside the project's DetectionArray.

The node and a listener run as child processes with vision_msgs importable (the installed
package, or the test stand-in of vision_msgs_build.py); without it the node warns and activates anyway.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("rclpy")
pytest.importorskip("edge_ai_ros.msg")

from ros_harness import make_ros_env, wait_until  # noqa: E402
from tiny_detector import build_detector  # noqa: E402
from vision_msgs_build import vision_env  # noqa: E402

from edge_ai_ros.ros.drivers.node_process import NodeLaunch, start_node, stop_node  # noqa: E402

pytestmark = pytest.mark.ros
LISTENER = Path(__file__).with_name("vision_listener.py")


@pytest.fixture(scope="module")
def manifest(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_detector(tmp_path_factory.mktemp("model"))


def _node(manifest: Path, namespace: str, log: Path, extra_env: dict[str, str]) -> subprocess.Popen[bytes]:
    params = {"model_manifest": str(manifest), "backend": "onnxruntime", "publish_vision_msgs": True}
    return start_node(NodeLaunch(parameters=params, namespace=namespace, log_path=log), env=make_ros_env(extra_env))


@pytest.fixture(scope="module")
def with_vision(manifest: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, str]]]:
    extra = vision_env()
    proc = _node(manifest, "/t_vision", tmp_path_factory.mktemp("logs") / "node.log", extra)
    yield "/t_vision", extra
    assert stop_node(proc) == 0


def test_detection2d_array_mirrors_the_detections(with_vision: tuple[str, dict[str, str]]) -> None:
    namespace, extra = with_vision
    stamp = 1_700_000_123_000_000_042
    done = subprocess.run([sys.executable, str(LISTENER), namespace, str(stamp)], env=make_ros_env(extra),
                          capture_output=True, text=True, timeout=90, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    answer = json.loads(done.stdout.strip().splitlines()[-1])
    assert answer["vision_header"] == [stamp, "cam_vision"]
    detections, vision = answer["detections"], answer["vision"]
    assert len(vision) == len(detections) > 0
    for (class_id, label, score, x1, y1, x2, y2), item in zip(detections, vision, strict=True):
        assert item["id"] == label and item["frame_id"] == "cam_vision"
        assert item["center"] == pytest.approx([(x1 + x2) / 2, (y1 + y2) / 2], abs=1e-3)
        assert item["size"] == pytest.approx([x2 - x1, y2 - y1], abs=1e-3)
        assert item["theta"] == 0.0
        [[hyp_class, hyp_score]] = item["results"]
        assert hyp_class == str(class_id)
        assert hyp_score == pytest.approx(score, abs=1e-6)


def test_without_vision_msgs_the_node_warns_and_still_activates(manifest: Path, tmp_path: Path) -> None:
    if vision_env() == {}:
        pytest.skip("vision_msgs is installed here, so its absence cannot be tested")
    log = tmp_path / "node.log"
    proc = _node(manifest, "/t_no_vision", log, {})
    try:
        assert wait_until(lambda: "active:" in log.read_text(errors="replace"), 30.0), log.read_text(errors="replace")
        text = log.read_text(errors="replace")
        assert "publish_vision_msgs is true but vision_msgs is not installed; skipped" in text
    finally:
        assert stop_node(proc) == 0
