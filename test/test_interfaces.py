"""The project's interfaces (msg/, srv/, action/) are built, importable beside our Python code,
match their definition files, and carry data through rclpy serialization and a real topic."""

from __future__ import annotations

import importlib
import re
from pathlib import Path
from typing import Any

import pytest

rclpy = pytest.importorskip("rclpy", reason="rclpy is not importable here (run make setup)")

from rclpy.executors import SingleThreadedExecutor  # noqa: E402
from rclpy.serialization import deserialize_message, serialize_message  # noqa: E402
from ros_harness import REPO_ROOT, spin_until  # noqa: E402

# Once rclpy imports, missing interfaces are a build failure, not a reason to skip.
from edge_ai_ros import action as generated_action  # noqa: E402
from edge_ai_ros import msg as generated_msg  # noqa: E402
from edge_ai_ros import srv as generated_srv  # noqa: E402

pytestmark = pytest.mark.ros

FIELD_LINE = re.compile(r"^\s*(?P<type>[A-Za-z][\w/]*(?:\[\d*\])?)\s+(?P<name>[a-z]\w*)\s*(?:#.*)?$")


def definition_fields(text: str) -> list[str]:
    """Field names of one .msg section, in order (comments and constants skipped)."""
    return [m["name"] for m in map(FIELD_LINE.match, text.splitlines()) if m]


def definition_sections(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").split("\n---")


def interface_files() -> list[Path]:
    return sorted(p for folder in ("msg", "srv", "action") for p in (REPO_ROOT / folder).iterdir())


def generated_parts(path: Path) -> list[Any]:
    """The generated classes for each section of a definition file, in file order."""
    module = importlib.import_module(f"edge_ai_ros.{path.parent.name}")
    generated = getattr(module, path.stem)
    if path.parent.name == "msg":
        return [generated]
    if path.parent.name == "srv":
        return [generated.Request, generated.Response]
    return [generated.Goal, generated.Result, generated.Feedback]


def sample_detection_array() -> Any:
    message = generated_msg.DetectionArray(model_id="demo_detector@fp32")
    message.header.stamp.sec = 1_700_000_123
    message.header.stamp.nanosec = 456_789
    message.header.frame_id = "camera_optical"
    message.detections = [
        generated_msg.Detection(class_id=2, label="car", score=0.875, x_min=10.5, y_min=20.0, x_max=110.0, y_max=95.25),
        generated_msg.Detection(class_id=0, label="pedestrian", score=0.5, x_min=0.0, y_min=1.0, x_max=2.0, y_max=3.0),
    ]
    return message


@pytest.mark.parametrize("path", interface_files(), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_generated_fields_match_definition_file(path: Path) -> None:
    sections = definition_sections(path)
    parts = generated_parts(path)
    assert len(sections) == len(parts)
    for section, cls in zip(sections, parts, strict=True):
        assert list(cls.get_fields_and_field_types()) == definition_fields(section), (
            f"{path.name}: generated {cls.__name__} differs from the file; rebuild with `make setup`"
        )


def test_detection_array_roundtrips_through_cdr() -> None:
    original = sample_detection_array()
    data = serialize_message(original)
    restored = deserialize_message(data, generated_msg.DetectionArray)
    assert restored == original
    assert restored.header.frame_id == "camera_optical"
    assert restored.header.stamp.nanosec == 456_789
    assert [d.label for d in restored.detections] == ["car", "pedestrian"]
    assert restored.detections[0].y_max == pytest.approx(95.25)


def test_service_and_action_types_construct_with_their_fields() -> None:
    request = generated_srv.SwapModel.Request(manifest_path="/models/a.manifest.json", backend="onnxruntime")
    goal = generated_action.CompileEngine.Goal(onnx_path="m.onnx", precision="int8", keep_layers=["conv1"])
    feedback = generated_action.CompileEngine.Feedback(stage="calibrating", progress=0.5)
    assert deserialize_message(serialize_message(request), generated_srv.SwapModel.Request) == request
    assert deserialize_message(serialize_message(goal), generated_action.CompileEngine.Goal) == goal
    assert feedback.progress == pytest.approx(0.5)


def test_generated_modules_share_one_package_with_our_code() -> None:
    """rosidl's output and our modules are one `edge_ai_ros` package; its __init__ is ours."""
    import edge_ai_ros

    generated_dir = Path(generated_msg.__file__).resolve().parents[1]
    assert any(generated_dir.glob("edge_ai_ros_s__rosidl_typesupport_c*.so"))
    init_text = (generated_dir / "__init__.py").read_text(encoding="utf-8")
    assert "extend_path" in init_text, "rosidl's empty __init__.py won over ours in the installed package"
    assert str(generated_dir) in [str(Path(p).resolve()) for p in edge_ai_ros.__path__]


def test_detection_array_crosses_a_real_topic(rclpy_context: Any) -> None:
    node = rclpy.create_node("interfaces_test", context=rclpy_context)
    executor = SingleThreadedExecutor(context=rclpy_context)
    executor.add_node(node)
    received: list[Any] = []
    node.create_subscription(generated_msg.DetectionArray, "detections", received.append, 10)
    publisher = node.create_publisher(generated_msg.DetectionArray, "detections", 10)
    sent = sample_detection_array()
    try:
        assert spin_until(executor, lambda: publisher.get_subscription_count() > 0, timeout_s=10.0)
        publisher.publish(sent)
        assert spin_until(executor, lambda: bool(received), timeout_s=10.0)
        assert received[0] == sent
    finally:
        executor.shutdown()
        node.destroy_node()
