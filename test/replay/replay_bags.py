"""Small rosbag2 bags for replay tests, written with rosbags' own writer.

Frames are flat colours whose red channel is index * 20, so a detector whose output follows
red (test/ros/tiny_detector.py) gives every frame different detections.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image
from rosbags.rosbag2 import StoragePlugin, Writer
from rosbags.typesys import Stores, get_typestore

TOPIC = "/camera/image_raw"
START_NS = 1_700_000_000_000_000_000
STORE = get_typestore(Stores.ROS2_JAZZY)


def pixels(index: int, width: int = 64, height: int = 48) -> np.ndarray:
    rgb = np.zeros((height, width, 3), np.uint8)
    rgb[..., 0] = (index * 20) % 256
    rgb[..., 1] = 100
    rgb[: height // 2, : width // 2, 2] = 200
    return rgb


def _header(t_ns: int) -> object:
    types = STORE.types
    stamp = types["builtin_interfaces/msg/Time"](sec=t_ns // 10**9, nanosec=t_ns % 10**9)
    return types["std_msgs/msg/Header"](stamp=stamp, frame_id="camera")


def image_cdr(index: int, t_ns: int, *, compressed: bool, encoding: str = "rgb8") -> bytes:
    types = STORE.types
    rgb = pixels(index)
    if compressed:
        buf = io.BytesIO()
        Image.fromarray(rgb).save(buf, format="PNG")
        msg = types["sensor_msgs/msg/CompressedImage"](
            header=_header(t_ns), format="png", data=np.frombuffer(buf.getvalue(), np.uint8))
        return bytes(STORE.serialize_cdr(msg, "sensor_msgs/msg/CompressedImage"))
    channels = 2 if encoding == "yuv422" else 3
    data = rgb[..., :channels].tobytes()
    msg = types["sensor_msgs/msg/Image"](
        header=_header(t_ns), height=rgb.shape[0], width=rgb.shape[1], encoding=encoding, is_bigendian=0,
        step=rgb.shape[1] * channels, data=np.frombuffer(data, np.uint8))
    return bytes(STORE.serialize_cdr(msg, "sensor_msgs/msg/Image"))


def write_bag(path: Path, *, frames: int = 6, compressed: bool = True, encoding: str = "rgb8",
              topic: str = TOPIC, other_topics: bool = True, storage: str = "sqlite3") -> Path:
    """Image frames at 20 Hz on ``topic`` (+ "/compressed" when compressed), with unrelated topics around."""
    plugin = StoragePlugin.MCAP if storage == "mcap" else StoragePlugin.SQLITE3
    msgtype = "sensor_msgs/msg/CompressedImage" if compressed else "sensor_msgs/msg/Image"
    name = f"{topic}/compressed" if compressed else topic
    with Writer(path, version=9, storage_plugin=plugin) as writer:
        conn = writer.add_connection(name, msgtype, typestore=STORE)
        chatter = writer.add_connection("/chatter", "std_msgs/msg/String", typestore=STORE) if other_topics else None
        for i in range(frames):
            t_ns = START_NS + i * 50_000_000
            writer.write(conn, t_ns, image_cdr(i, t_ns, compressed=compressed, encoding=encoding))
            if chatter is not None:
                text = STORE.types["std_msgs/msg/String"](data=f"hello {i}")
                writer.write(chatter, t_ns + 1, bytes(STORE.serialize_cdr(text, "std_msgs/msg/String")))
    return path
