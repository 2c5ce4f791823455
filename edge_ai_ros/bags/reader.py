"""Read rosbag2 bags with rosbags (pure Python): topics, raw CDR messages, decoded RGB frames.

Every failure is a BagError that says what to do: a missing bag, a topic that is not there
(the ones that are, are listed), a truncated or corrupt storage file (with how many messages
were read before it broke). An MCAP file cut short (a killed recorder) does not open in
rosbags, which reads the summary at its end; its intact front is streamed instead
(``edge_ai_ros.bags.salvage``), and the error at the cut says how far it got.
"""

from __future__ import annotations

import sqlite3
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np

from edge_ai_ros.errors import BagError, EdgeAiError, InvalidInputError
from edge_ai_ros.imaging.compressed import decode_compressed
from edge_ai_ros.imaging.raw import decode_raw

IMAGE = "sensor_msgs/msg/Image"
COMPRESSED = "sensor_msgs/msg/CompressedImage"


@dataclass(frozen=True, kw_only=True)
class TopicInfo:
    name: str
    msgtype: str
    count: int


@dataclass(frozen=True, kw_only=True)
class BagImage:
    """One decoded frame: bag receive time, header stamp and frame id, RGB uint8 HxWx3."""

    timestamp_ns: int
    stamp_ns: int
    frame_id: str
    image: np.ndarray


def _read_errors() -> tuple[type[BaseException], ...]:
    from rosbags.rosbag2 import ReaderError

    from edge_ai_ros.bags.salvage import STREAM_ERRORS

    return (ReaderError, sqlite3.DatabaseError, struct.error, KeyError, *STREAM_ERRORS)


def sample_evenly(n: int, cap: int) -> list[int]:
    """At most ``cap`` indices of ``range(n)`` spread evenly, first and last included."""
    if n <= 0 or cap <= 0:
        return []
    if cap >= n:
        return list(range(n))
    if cap == 1:
        return [0]
    return sorted({round(i * (n - 1) / (cap - 1)) for i in range(cap)})


class BagReader:
    """Context manager over a rosbag2 directory (sqlite3 or mcap) or a single .db3/.mcap file."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if not self.path.exists():
            raise BagError(f"bag not found: {self.path}", fix="pass a rosbag2 directory or a .db3/.mcap file")
        self._reader: Any = None
        self._store: Any = None
        self._salvage: Path | None = None  # the MCAP file streamed when rosbags cannot open it

    def __enter__(self) -> BagReader:
        from rosbags.rosbag2 import Reader
        from rosbags.typesys import Stores, get_typestore

        errors: tuple[type[BaseException], ...] = (*_read_errors(), OSError)
        try:
            self._reader = Reader(self.path)
            self._reader.open()
        except errors as err:
            self._reader = None
            self._salvage = self._mcap_file()
            if self._salvage is None:
                raise BagError(f"cannot open bag {self.path}: {err}", fix="the bag is truncated or corrupt; "
                               "re-record it or check that it was closed cleanly") from err
        self._store = get_typestore(Stores.ROS2_JAZZY)
        return self

    def _mcap_file(self) -> Path | None:
        if self.path.suffix == ".mcap":
            return self.path
        files = sorted(self.path.glob("*.mcap")) if self.path.is_dir() else []
        return files[0] if len(files) == 1 else None

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._reader is not None:
            self._reader.close()
            self._reader = None

    def topics(self) -> dict[str, TopicInfo]:
        """Topic name -> type and message count, from the bag's metadata."""
        if self._salvage is not None:
            from edge_ai_ros.bags import salvage as mcap_salvage

            counts = mcap_salvage.metadata_counts(self.path) if self.path.is_dir() else {}
            return {name: TopicInfo(name=name, msgtype=msgtype, count=counts.get(name, 0))
                    for name, msgtype in mcap_salvage.topics(self._salvage).items()}
        return {name: TopicInfo(name=name, msgtype=info.msgtype or "", count=info.msgcount)
                for name, info in self._open().topics.items()}

    def _open(self) -> Any:
        if self._reader is None and self._salvage is None:
            raise BagError("the bag reader is not open", fix="use it as a context manager: with BagReader(path)")
        return self._reader

    def _check_topic(self, topic: str) -> str:
        topics = self.topics()
        if topic not in topics:
            existing = ", ".join(f"{t.name} ({t.msgtype})" for t in topics.values()) or "none"
            raise BagError(f"topic {topic} is not in bag {self.path}; topics: {existing}",
                           fix="pass one of the listed topics")
        return topics[topic].msgtype

    def _stream(self, topic: str, msgtype: str) -> Iterator[tuple[int, str, bytes]]:
        if self._salvage is not None:
            from edge_ai_ros.bags import salvage as mcap_salvage

            for timestamp, data in mcap_salvage.messages(self._salvage, topic):
                yield timestamp, msgtype, data
            return
        connections = [c for c in self._open().connections if c.topic == topic]
        for connection, timestamp, data in self._open().messages(connections=connections):
            yield timestamp, connection.msgtype, bytes(data)

    def messages(self, topic: str) -> Iterator[tuple[int, str, bytes]]:
        """(bag timestamp ns, message type, raw CDR bytes) of every message on ``topic``, in time order."""
        msgtype = self._check_topic(topic)
        count = 0
        try:
            for item in self._stream(topic, msgtype):
                count += 1
                yield item
        except _read_errors() as err:
            raise BagError(f"bag {self.path} is truncated or corrupt: read {count} messages of {topic} before "
                           f"{type(err).__name__}: {err}", fix="re-record the bag; the frames before the damage are usable") from err

    def images(self, topic: str) -> Iterator[BagImage]:
        """Decoded RGB frames of an Image or CompressedImage topic."""
        for timestamp, msgtype, data in self.messages(topic):
            yield self.decode_image(timestamp, msgtype, data)

    def decode_image(self, timestamp: int, msgtype: str, data: bytes) -> BagImage:
        """One image message's CDR bytes -> BagImage (InvalidInputError for an undecodable image)."""
        if msgtype not in (IMAGE, COMPRESSED):
            raise BagError(f"{msgtype} is not an image type", fix=f"read a topic of {IMAGE} or {COMPRESSED}")
        msg: Any = self._store.deserialize_cdr(data, msgtype)
        try:
            if msgtype == IMAGE:
                rgb = decode_raw(encoding=msg.encoding, width=msg.width, height=msg.height, step=msg.step,
                                 is_bigendian=msg.is_bigendian, data=msg.data.tobytes())
            else:
                rgb = decode_compressed(format=msg.format, data=msg.data.tobytes())
        except EdgeAiError:
            raise
        except ValueError as err:
            raise InvalidInputError("data", f"cannot decode image: {err}", fix="check the recorded encoding") from err
        stamp = msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec
        return BagImage(timestamp_ns=timestamp, stamp_ns=stamp, frame_id=msg.header.frame_id, image=rgb)


def list_topics(path: str | Path) -> dict[str, TopicInfo]:
    """Topics of the bag at ``path`` (opens and closes it)."""
    with BagReader(path) as bag:
        return bag.topics()
