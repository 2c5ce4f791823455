"""ROS messages <-> library types: images in, results out. No logic beyond field mapping.

Incoming pixel data is viewed, not copied (``msg.data`` is an ``array('B')`` that numpy
wraps in place); outgoing masks are copied once into the message buffer.
"""

from __future__ import annotations

import array
from types import ModuleType

import numpy as np
from builtin_interfaces.msg import Time
from sensor_msgs.msg import CompressedImage, Image
from std_msgs.msg import Header

from edge_ai_ros.imaging.compressed import decode_compressed
from edge_ai_ros.imaging.raw import decode_raw
from edge_ai_ros.msg import Classification as ClassificationMsg
from edge_ai_ros.msg import Detection as DetectionMsg
from edge_ai_ros.msg import DetectionArray
from edge_ai_ros.results import FrameResult


def stamp_ns(stamp: Time) -> int:
    """A header stamp as integer nanoseconds (the key that matches an output to its input frame)."""
    return int(stamp.sec) * 1_000_000_000 + int(stamp.nanosec)


def image_to_rgb(msg: Image, *, max_pixels: int) -> np.ndarray:
    """sensor_msgs/Image -> RGB uint8 HxWx3 (a view of the message buffer where possible)."""
    return decode_raw(
        encoding=msg.encoding, width=msg.width, height=msg.height, step=msg.step,
        is_bigendian=msg.is_bigendian, data=memoryview(msg.data), max_pixels=max_pixels,
    )


def compressed_to_rgb(msg: CompressedImage, *, max_pixels: int) -> np.ndarray:
    return decode_compressed(format=msg.format, data=memoryview(msg.data), max_pixels=max_pixels)


def to_detection_array(result: FrameResult, header: Header) -> DetectionArray:
    out = DetectionArray(header=header, model_id=result.model_id)
    out.detections = [
        DetectionMsg(class_id=d.class_id, label=d.label, score=float(d.score),
                     x_min=float(d.box[0]), y_min=float(d.box[1]), x_max=float(d.box[2]), y_max=float(d.box[3]))
        for d in result.detections
    ]
    return out


def to_classification(result: FrameResult, header: Header) -> ClassificationMsg:
    top = result.classification
    msg = ClassificationMsg(header=header, model_id=result.model_id)
    if top is not None:
        msg.class_ids = [int(c) for c in top.class_ids]
        msg.labels = list(top.labels)
        msg.scores = [float(s) for s in top.scores]
    return msg


def to_mask_image(result: FrameResult, header: Header) -> Image:
    """Class-id mask -> mono8 Image at the original size (empty 0x0 image if there is no mask)."""
    msg = Image(header=header, encoding="mono8", is_bigendian=0)
    if result.mask is not None:
        mask = np.ascontiguousarray(result.mask, dtype=np.uint8)
        msg.height, msg.width = int(mask.shape[0]), int(mask.shape[1])
        msg.step = msg.width
        msg.data = array.array("B", mask.tobytes())
    return msg


def load_vision_msgs() -> ModuleType | None:
    """vision_msgs.msg when the package is installed (it is optional), else None."""
    try:
        import vision_msgs.msg  # optional dependency
    except ImportError:
        return None
    module: ModuleType = vision_msgs.msg
    return module


def to_detection2d_array(result: FrameResult, header: Header, vision: ModuleType) -> object:
    """vision_msgs/Detection2DArray (Humble+ layout: bbox.center.position, results[].hypothesis)."""
    out = vision.Detection2DArray(header=header)
    for det in result.detections:
        x1, y1, x2, y2 = (float(v) for v in det.box)
        item = vision.Detection2D(header=header, id=det.label)
        item.bbox.center.position.x, item.bbox.center.position.y = (x1 + x2) / 2.0, (y1 + y2) / 2.0
        item.bbox.size_x, item.bbox.size_y = x2 - x1, y2 - y1
        hypothesis = vision.ObjectHypothesisWithPose()
        hypothesis.hypothesis.class_id = str(det.class_id)
        hypothesis.hypothesis.score = float(det.score)
        item.results.append(hypothesis)
        out.detections.append(item)
    return out
