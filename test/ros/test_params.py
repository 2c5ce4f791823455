"""Which parameter changes the node takes while configured, and what they change."""

from __future__ import annotations

import pytest

pytest.importorskip("rclpy")

from rclpy.parameter import Parameter  # noqa: E402

from edge_ai_ros.ros.params import NodeSettings, check_change, live_changes  # noqa: E402

pytestmark = pytest.mark.ros


def test_thresholds_are_live_and_model_choices_wait_for_configure() -> None:
    for name, value in (("score_threshold", 0.6), ("iou_threshold", 0.3), ("max_detections", 7), ("top_k", 2),
                        ("max_image_pixels", 640 * 480)):
        assert check_change([Parameter(name, value=value)], unconfigured=False) == ""
    assert "read at configure" in check_change([Parameter("backend", value="openvino")], unconfigured=False)


def test_live_changes_apply_only_live_parameters() -> None:
    settings = NodeSettings()
    updated = live_changes(settings, [Parameter("score_threshold", value=0.6), Parameter("max_image_pixels", value=99),
                                      Parameter("backend", value="openvino"), Parameter("not_ours", value=1)])
    assert (updated.score_threshold, updated.max_image_pixels) == (0.6, 99)
    assert updated.backend == settings.backend  # configure-time: applied at the next configure, not here
    assert live_changes(settings, [Parameter("backend", value="openvino")]) is settings


def test_descriptors_come_from_the_one_definition() -> None:
    from rcl_interfaces.msg import ParameterType

    from edge_ai_ros.ros.params import descriptor
    from edge_ai_ros.serving.settings import parameters

    for name, default, spec in parameters():
        desc = descriptor(name, default, spec)
        assert (desc.name, desc.description, desc.read_only) == (name, spec.description, spec.when == "start")
        ranges = [*desc.integer_range, *desc.floating_point_range]
        if spec.value_range is None:
            assert ranges == []
        else:
            assert [(r.from_value, r.to_value) for r in ranges] == [spec.value_range]
        if isinstance(default, bool):
            assert desc.type == ParameterType.PARAMETER_BOOL
