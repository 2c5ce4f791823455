"""DetectionArray messages without rclpy: decode CDR, and write a results bag with rosbags.

The replayer collects the node's outputs as raw CDR bytes; this module turns them into
FrameDetections for comparison and writes them, byte for byte, into a new rosbag2 bag at
the input frames' log times, so ``ros2 bag play`` on a vehicle replays them next to the
camera. rosbags learns edge_ai_ros/msg/* from the package's own msg/*.msg definitions, so
the type hash in the bag is the one rosidl computes.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from rosbags.rosbag2 import StoragePlugin, Writer, WriterError
from rosbags.typesys import Stores, get_types_from_msg, get_typestore
from rosbags.typesys.store import Typestore

from edge_ai_ros.errors import BagError, ConfigError
from edge_ai_ros.results import Detection, FrameDetections

DETECTION_ARRAY = "edge_ai_ros/msg/DetectionArray"
_INTERFACES = ("Detection", "DetectionArray", "Classification", "ModelInfo")


def interface_dirs() -> list[Path]:
    """Where msg/*.msg may live: the source checkout, then installed share/ directories."""
    dirs = [Path(__file__).resolve().parents[2] / "msg"]
    prefixes = [p for p in os.environ.get("AMENT_PREFIX_PATH", "").split(os.pathsep) if p]
    dirs += [Path(p) / "share" / "edge_ai_ros" / "msg" for p in [*prefixes, sys.prefix]]
    return dirs


def find_interface_dir() -> Path:
    for candidate in interface_dirs():
        if (candidate / "DetectionArray.msg").is_file():
            return candidate
    searched = ", ".join(str(d) for d in interface_dirs())
    raise ConfigError(
        "msg", f"edge_ai_ros/msg/DetectionArray.msg not found (searched {searched})",
        fix="run from a source checkout or install the package (colcon or pip) so share/edge_ai_ros/msg exists",
    )


@lru_cache(maxsize=1)
def project_typestore() -> Typestore:
    """A Jazzy typestore that also knows the package's own messages."""
    store = get_typestore(Stores.ROS2_JAZZY)
    msg_dir = find_interface_dir()
    types: dict[str, Any] = {}
    for name in _INTERFACES:
        path = msg_dir / f"{name}.msg"
        if path.is_file():
            types.update(get_types_from_msg(path.read_text(encoding="utf-8"), f"edge_ai_ros/msg/{name}"))
    store.register(types)
    return store


def stamp_ns(sec: int, nanosec: int) -> int:
    return int(sec) * 1_000_000_000 + int(nanosec)


@dataclass(frozen=True, kw_only=True)
class DecodedDetections:
    stamp_ns: int
    frame_id: str
    model_id: str
    detections: tuple[Detection, ...]


def decode_detection_array(raw: bytes | memoryview) -> DecodedDetections:
    msg: Any = project_typestore().deserialize_cdr(bytes(raw), DETECTION_ARRAY)
    return DecodedDetections(
        stamp_ns=stamp_ns(msg.header.stamp.sec, msg.header.stamp.nanosec),
        frame_id=str(msg.header.frame_id), model_id=str(msg.model_id),
        detections=tuple(
            Detection(
                class_id=int(d.class_id), label=str(d.label), score=float(d.score),
                box=(float(d.x_min), float(d.y_min), float(d.x_max), float(d.y_max)),
            )
            for d in msg.detections
        ),
    )


def encode_detection_array(frame: FrameDetections, *, model_id: str, frame_id: str = "") -> bytes:
    """CDR bytes of a DetectionArray, for tests and for writing goldens as bags."""
    store = project_typestore()
    types: Any = store.types
    header = types["std_msgs/msg/Header"](
        stamp=types["builtin_interfaces/msg/Time"](
            sec=frame.stamp_ns // 1_000_000_000, nanosec=frame.stamp_ns % 1_000_000_000,
        ),
        frame_id=frame_id,
    )
    dets = [
        types["edge_ai_ros/msg/Detection"](
            class_id=d.class_id, label=d.label, score=d.score,
            x_min=d.box[0], y_min=d.box[1], x_max=d.box[2], y_max=d.box[3],
        )
        for d in frame.detections
    ]
    msg = types[DETECTION_ARRAY](header=header, model_id=model_id, detections=dets)
    return bytes(store.serialize_cdr(msg, DETECTION_ARRAY))


def write_results_bag(
    path: str | Path, topic: str, messages: Iterable[tuple[int, bytes | memoryview]],
    *, storage: str = "sqlite3",
) -> int:
    """Write (log time ns, DetectionArray CDR) pairs to a new bag at ``path``; returns the count."""
    path = Path(path)
    plugin = {"sqlite3": StoragePlugin.SQLITE3, "mcap": StoragePlugin.MCAP}.get(storage)
    if plugin is None:
        raise ConfigError("storage", f"unknown bag storage {storage!r}", fix="use 'sqlite3' or 'mcap'")
    count = 0
    try:
        with Writer(path, version=9, storage_plugin=plugin) as writer:
            conn = writer.add_connection(topic, DETECTION_ARRAY, typestore=project_typestore())
            for log_time, raw in messages:
                writer.write(conn, log_time, raw)
                count += 1
    except (WriterError, OSError) as err:
        raise BagError(f"cannot write results bag {path}: {err}", fix="remove the old bag or choose another --out") from err
    return count


def read_results_bag(path: str | Path, topic: str) -> list[tuple[int, DecodedDetections]]:
    """Read a results bag back (the round trip the tests and vehicle tools rely on)."""
    from rosbags.rosbag2 import Reader

    with Reader(path) as reader:
        conns = [c for c in reader.connections if c.topic == topic]
        return [(t, decode_detection_array(raw)) for _, t, raw in reader.messages(connections=conns)]


def frames_from_outputs(outputs: Sequence[tuple[int, int, bytes]]) -> list[FrameDetections]:
    """(frame index, stamp ns, CDR) of collected outputs -> FrameDetections in frame order."""
    frames = []
    for index, stamp, raw in sorted(outputs, key=lambda o: o[0]):
        decoded = decode_detection_array(raw)
        frames.append(FrameDetections(index=index, stamp_ns=stamp, detections=decoded.detections))
    return frames
