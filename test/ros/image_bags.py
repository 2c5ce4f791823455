"""Write small rosbag2 bags of camera frames for tests, with rosbags' own writer.

Each frame is a flat colour whose red channel encodes its index (index * 10), so a test can
tell which frame arrived from its pixels.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image
from rosbags.rosbag2 import StoragePlugin, Writer
from rosbags.typesys import Stores, get_typestore

TOPIC = "/camera/image_raw/compressed"
FRAME_ID = "camera_optical"
_TYPESTORE = get_typestore(Stores.ROS2_JAZZY)


def frame_pixels(index: int, width: int = 64, height: int = 48) -> np.ndarray:
    rgb = np.zeros((height, width, 3), np.uint8)
    rgb[..., 0] = (index * 10) % 256
    rgb[..., 1] = 128
    return rgb


def write_image_bag(path: Path, *, frames: int = 10, hz: float = 50.0, storage: str = "sqlite3",
                    width: int = 64, height: int = 48, start_ns: int = 1_700_000_000_000_000_000) -> Path:
    """A bag with ``frames`` PNG CompressedImage frames on TOPIC at ``hz``; returns its folder."""
    types = _TYPESTORE.types
    plugin = StoragePlugin.MCAP if storage == "mcap" else StoragePlugin.SQLITE3
    with Writer(path, version=9, storage_plugin=plugin) as writer:
        msgtype = "sensor_msgs/msg/CompressedImage"
        conn = writer.add_connection(TOPIC, msgtype, typestore=_TYPESTORE)
        for i in range(frames):
            t_ns = start_ns + round(i * 1e9 / hz)
            buf = io.BytesIO()
            Image.fromarray(frame_pixels(i, width, height)).save(buf, format="PNG")
            stamp = types["builtin_interfaces/msg/Time"](sec=t_ns // 10**9, nanosec=t_ns % 10**9)
            header = types["std_msgs/msg/Header"](stamp=stamp, frame_id=FRAME_ID)
            msg = types[msgtype](header=header, format="png", data=np.frombuffer(buf.getvalue(), np.uint8))
            writer.write(conn, t_ns, _TYPESTORE.serialize_cdr(msg, msgtype))
    return path
