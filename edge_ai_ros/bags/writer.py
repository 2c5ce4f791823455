"""Write camera frames to a rosbag2 bag with rosbags (pure Python, no rclpy).

Messages are sensor_msgs/Image or sensor_msgs/CompressedImage with a std_msgs/Header
(stamp, frame_id), serialised as CDR with the ROS 2 Jazzy type store, so ``ros2 bag`` on a
vehicle reads the bag. The bag is built in a temporary directory beside the target and
renamed into place on close: a crash never leaves a half bag under the final name.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

import numpy as np

from edge_ai_ros.bags.source import COMPRESSED, IMAGE
from edge_ai_ros.errors import BagError, ConfigError
from edge_ai_ros.imaging.compressed import encode_compressed
from edge_ai_ros.imaging.raw import encode_raw

STORAGES = ("sqlite3", "mcap")


@dataclass(frozen=True, kw_only=True)
class BagWriterConfig:
    """storage: "sqlite3" (rosbag2's default) or "mcap"; version: rosbag2 metadata version (8 = Jazzy)."""

    storage: str = "sqlite3"
    version: Literal[8, 9] = 8
    jpeg_quality: int = 90

    def __post_init__(self) -> None:
        if self.storage not in STORAGES:
            raise ConfigError("storage", f"must be one of {STORAGES}, got {self.storage!r}")
        if self.version not in (8, 9):
            raise ConfigError("version", f"rosbags writes rosbag2 versions 8 and 9, got {self.version}",
                              fix="use 8 for Jazzy")
        if not 1 <= self.jpeg_quality <= 100:
            raise ConfigError("jpeg_quality", f"must be 1..100, got {self.jpeg_quality}")


def _typestore() -> Any:
    from rosbags.typesys import Stores, get_typestore

    return get_typestore(Stores.ROS2_JAZZY)


class ImageBagWriter:
    """Context manager: ``with ImageBagWriter(path) as bag: bag.write_image(...)``."""

    def __init__(self, path: str | Path, config: BagWriterConfig | None = None) -> None:
        self.path = Path(path)
        self.config = config or BagWriterConfig()
        if self.path.exists():
            raise BagError(f"{self.path} exists already", fix="remove it or choose a new bag path")
        self._store = _typestore()
        self._connections: dict[str, tuple[Any, str]] = {}
        self._staging: Path | None = None
        self._writer: Any = None

    def __enter__(self) -> ImageBagWriter:
        from rosbags.rosbag2 import StoragePlugin, Writer

        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._staging = Path(tempfile.mkdtemp(prefix=f".{self.path.name}.", dir=self.path.parent))
        plugin = StoragePlugin.MCAP if self.config.storage == "mcap" else StoragePlugin.SQLITE3
        # rosbags names the storage file after the bag directory, so stage under the final name
        self._writer = Writer(self._staging / self.path.name, version=self.config.version, storage_plugin=plugin)
        self._writer.open()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        assert self._staging is not None
        try:
            self._writer.close()
            if exc_type is None:
                (self._staging / self.path.name).replace(self.path)
        finally:
            shutil.rmtree(self._staging, ignore_errors=True)

    def _connection(self, topic: str, msgtype: str) -> Any:
        if self._writer is None:
            raise BagError("the bag writer is not open", fix="use it as a context manager: with ImageBagWriter(...)")
        if topic not in self._connections:
            self._connections[topic] = (self._writer.add_connection(topic, msgtype, typestore=self._store), msgtype)
        connection, existing = self._connections[topic]
        if existing != msgtype:
            raise BagError(f"topic {topic} already holds {existing}, cannot add {msgtype}",
                           fix="write each message type to its own topic")
        return connection

    def _header(self, stamp_ns: int, frame_id: str) -> Any:
        types = self._store.types
        stamp = types["builtin_interfaces/msg/Time"](sec=stamp_ns // 1_000_000_000, nanosec=stamp_ns % 1_000_000_000)
        return types["std_msgs/msg/Header"](stamp=stamp, frame_id=frame_id)

    def write_image(self, topic: str, rgb: np.ndarray, stamp_ns: int, *, frame_id: str = "camera",
                    encoding: str = "rgb8") -> None:
        """One sensor_msgs/Image; bag time = header stamp."""
        raw = encode_raw(rgb, encoding)
        msg = self._store.types[IMAGE](
            header=self._header(stamp_ns, frame_id), height=raw.height, width=raw.width, encoding=raw.encoding,
            is_bigendian=raw.is_bigendian, step=raw.step, data=np.frombuffer(raw.data, np.uint8),
        )
        self._writer.write(self._connection(topic, IMAGE), stamp_ns, self._store.serialize_cdr(msg, IMAGE))

    def write_compressed(self, topic: str, rgb: np.ndarray, stamp_ns: int, *, frame_id: str = "camera",
                         format: str = "jpeg") -> None:  # noqa: A002 - the ROS field is called format
        """One sensor_msgs/CompressedImage (jpeg or png) of an RGB frame."""
        data = encode_compressed(rgb, format, quality=self.config.jpeg_quality)
        msg = self._store.types[COMPRESSED](header=self._header(stamp_ns, frame_id), format=format,
                                            data=np.frombuffer(data, np.uint8))
        self._writer.write(self._connection(topic, COMPRESSED), stamp_ns, self._store.serialize_cdr(msg, COMPRESSED))
