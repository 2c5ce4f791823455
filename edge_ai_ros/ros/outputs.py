"""The per-frame output publishers of the inference node, for one camera (or one of many).

The task decides the topics: detection -> ``detections`` (plus ``instance_masks`` for
instance-segmentation layouts, ``detections_vision`` with vision_msgs), classification ->
``classification``, segmentation -> ``segmentation``. A ``prefix`` (``front/``) puts one
camera's topics under its name; names stay relative, so namespaces and remaps apply.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from rclpy.lifecycle import LifecycleNode
from sensor_msgs.msg import Image

from edge_ai_ros.msg import Classification as ClassificationMsg
from edge_ai_ros.msg import DetectionArray
from edge_ai_ros.ros import conversions
from edge_ai_ros.ros.qos import output_qos

INSTANCE_MASK_LAYOUTS = ("yolov8_seg",)  # detection layouts that also publish an instance-id mask


@dataclass(kw_only=True)
class Outputs:
    """The lifecycle publishers of one camera's results (name -> publisher)."""

    publishers: dict[str, Any] = field(default_factory=dict)
    vision: Any = None  # the vision_msgs module when detections_vision is published

    def publish(self, result: Any, header: Any) -> None:
        """Publish one frame's results with its input's header (stamp and frame_id)."""
        pubs = self.publishers
        if "detections" in pubs:
            pubs["detections"].publish(conversions.to_detection_array(result, header))
            if "instance_masks" in pubs:
                pubs["instance_masks"].publish(conversions.to_mask_image(result, header))
            if "detections_vision" in pubs:
                pubs["detections_vision"].publish(conversions.to_detection2d_array(result, header, self.vision))
        elif "classification" in pubs:
            pubs["classification"].publish(conversions.to_classification(result, header))
        elif "segmentation" in pubs:
            pubs["segmentation"].publish(conversions.to_mask_image(result, header))

    def destroy(self, node: LifecycleNode) -> None:
        for pub in self.publishers.values():
            node.destroy_lifecycle_publisher(pub)
        self.publishers, self.vision = {}, None


def create_outputs(node: LifecycleNode, task: str, *, prefix: str = "", instance_masks: bool = False,
                   vision_msgs: bool = False) -> Outputs:
    """The lifecycle publishers of ``task`` under ``prefix`` (e.g. ``front/``; "" for the node's own)."""
    qos, out = output_qos(), Outputs()
    if task == "detection":
        out.publishers["detections"] = node.create_lifecycle_publisher(DetectionArray, f"{prefix}detections", qos)
        if instance_masks:  # mono8, pixel k = the k-th detection of the same frame (docs/detectors.md)
            out.publishers["instance_masks"] = node.create_lifecycle_publisher(Image, f"{prefix}instance_masks", qos)
        out.vision = conversions.load_vision_msgs() if vision_msgs else None
        if vision_msgs and out.vision is None:
            node.get_logger().warning("publish_vision_msgs is true but vision_msgs is not installed; skipped")
        if out.vision is not None:
            out.publishers["detections_vision"] = node.create_lifecycle_publisher(
                out.vision.Detection2DArray, f"{prefix}detections_vision", qos)
    elif task == "classification":
        out.publishers["classification"] = node.create_lifecycle_publisher(
            ClassificationMsg, f"{prefix}classification", qos)
    else:
        out.publishers["segmentation"] = node.create_lifecycle_publisher(Image, f"{prefix}segmentation", qos)
    return out
