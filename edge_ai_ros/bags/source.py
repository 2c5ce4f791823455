"""The frames a replay plays: one image topic of a rosbag2 bag, checked before playing.

Everything that can make a replay meaningless is found here, before any node starts:
a missing topic (the ones that exist are listed), a topic that is not an image, an
encoding the node cannot read, an empty topic. A truncated bag is played as far as it
reads; the scan records how far that is, so the report can say it.
"""

from __future__ import annotations

import contextlib
import itertools
import sqlite3
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from rosbags.rosbag2 import Reader, ReaderError
from rosbags.typesys import Stores, get_typestore

from edge_ai_ros.bags import salvage as mcap_salvage
from edge_ai_ros.bags.fingerprint import BagFingerprint, BagIdentity
from edge_ai_ros.errors import BagError, InvalidInputError
from edge_ai_ros.imaging.compressed import codec_of, decode_compressed
from edge_ai_ros.imaging.raw import SUPPORTED_ENCODINGS, decode_raw

IMAGE = "sensor_msgs/msg/Image"
COMPRESSED = "sensor_msgs/msg/CompressedImage"
# What a damaged storage file raises while being read, by rosbags or below it.
READ_ERRORS = (ReaderError, sqlite3.DatabaseError, struct.error, KeyError, *mcap_salvage.STREAM_ERRORS)


@dataclass(frozen=True, kw_only=True)
class Frame:
    index: int
    log_time_ns: int  # when the recorder wrote it; the results bag reuses it
    stamp_ns: int  # header.stamp, which the node copies into its output
    data: bytes  # the message's CDR bytes, published as they are


@dataclass(frozen=True, kw_only=True)
class TopicScan:
    """What one pass over the topic found."""

    bag: BagIdentity
    msgtype: str
    expected_frames: int  # the count the bag's metadata claims
    readable_frames: int
    read_error: str  # "" when the whole topic read cleanly
    stamps: tuple[int, ...]  # header stamps in recorded order

    @property
    def truncated(self) -> bool:
        return bool(self.read_error) or self.readable_frames < self.expected_frames


def header_stamp_ns(cdr: bytes) -> int:
    """header.stamp of an Image/CompressedImage from its CDR bytes (the first field)."""
    if len(cdr) < 12:
        raise BagError(f"message of {len(cdr)} bytes is too short for a header", fix="the bag is corrupt; re-record it")
    little = cdr[1] == 1
    sec, nanosec = struct.unpack("<iI" if little else ">iI", cdr[4:12])
    return int(sec) * 1_000_000_000 + int(nanosec)


def _storage_path(path: Path) -> Path:
    """A bag directory, or its single storage file when metadata.yaml is missing (crashed recorder)."""
    if not path.exists():
        raise BagError(f"bag not found: {path}", fix="pass a rosbag2 directory, .db3 or .mcap file")
    if path.is_dir() and not (path / "metadata.yaml").is_file():
        files = sorted([*path.glob("*.db3"), *path.glob("*.mcap")])
        if len(files) != 1:
            raise BagError(
                f"{path} has no metadata.yaml and {len(files)} storage files",
                fix="pass a rosbag2 directory written by ros2 bag or rosbags, or one .db3/.mcap file",
            )
        return files[0]
    return path


@contextlib.contextmanager
def open_reader(path: str | Path) -> Iterator[Reader]:
    """An open rosbags Reader; opening failures become a BagError naming the bag."""
    bag_path = _storage_path(Path(path))
    try:
        reader = Reader(bag_path)
        reader.open()
    except (*READ_ERRORS, FileNotFoundError) as err:
        raise BagError(f"cannot open bag {bag_path}: {err}", fix="check that the bag was closed cleanly") from err
    try:
        yield reader
    finally:
        reader.close()


def resolve_topic(topics: dict[str, str], topic: str) -> str:
    """The requested topic, or its /compressed sibling when only that was recorded."""
    if topic in topics:
        return topic
    if f"{topic.rstrip('/')}/compressed" in topics:
        return f"{topic.rstrip('/')}/compressed"
    listing = ", ".join(f"{name} [{kind}]" for name, kind in sorted(topics.items())) or "none"
    raise BagError(f"topic {topic!r} is not in the bag; topics: {listing}", fix="pass one of them with --topic")


def check_image_message(msgtype: str, cdr: bytes, topic: str) -> None:
    """Refuse a topic the node would reject frame by frame, with the reason once."""
    if msgtype not in (IMAGE, COMPRESSED):
        raise BagError(
            f"topic {topic!r} carries {msgtype}, not an image", fix=f"choose a topic of type {IMAGE} or {COMPRESSED}",
        )
    msg: Any = get_typestore(Stores.ROS2_JAZZY).deserialize_cdr(cdr, msgtype)
    if msgtype == IMAGE and msg.encoding not in SUPPORTED_ENCODINGS:
        raise BagError(
            f"topic {topic!r} has images in encoding {msg.encoding!r}; the node reads "
            f"{', '.join(SUPPORTED_ENCODINGS)}",
            fix="replay a topic in one of those encodings, or convert the bag",
        )
    if msgtype == COMPRESSED:
        try:
            codec_of(msg.format)
        except InvalidInputError as err:
            raise BagError(
                f"topic {topic!r} has compressed images in format {msg.format!r}; the node reads jpeg and png",
                fix="replay a jpeg or png topic",
            ) from err


def decode_frame(msgtype: str, cdr: bytes) -> np.ndarray:
    """RGB uint8 pixels of one recorded frame (for report overlays and the engine-only rate)."""
    msg: Any = get_typestore(Stores.ROS2_JAZZY).deserialize_cdr(cdr, msgtype)
    if msgtype == COMPRESSED:
        return decode_compressed(format=msg.format, data=msg.data.tobytes())
    return decode_raw(encoding=msg.encoding, width=msg.width, height=msg.height, step=msg.step,
                      is_bigendian=msg.is_bigendian, data=msg.data.tobytes())


def _mcap_file(path: Path) -> Path | None:
    """The one MCAP storage file of a bag, if the bag is stored as MCAP."""
    if path.is_file():
        return path if path.suffix == ".mcap" else None
    files = list(path.glob("*.mcap"))
    return files[0] if len(files) == 1 else None


class BagSource:
    """One image topic of one bag; ``scan()`` checks it, ``frames()`` plays it.

    An MCAP bag whose end is missing does not open in rosbags; it is then read record by
    record up to the cut (``salvaged`` names the file), so a crashed recording still replays.
    """

    def __init__(self, path: str | Path, topic: str) -> None:
        self.path = Path(path)
        self.salvaged: Path | None = None
        try:
            with open_reader(self.path) as reader:
                kinds = {c.topic: c.msgtype for c in reader.connections}
                counts = {t: sum(c.msgcount for c in reader.connections if c.topic == t) for t in kinds}
        except BagError:
            self.salvaged = _mcap_file(self.path)
            if self.salvaged is None:
                raise
            kinds = mcap_salvage.topics(self.salvaged)
            counts = mcap_salvage.metadata_counts(self.path if self.path.is_dir() else self.path.parent)
        self.topic = resolve_topic(kinds, topic)
        self.msgtype = kinds[self.topic]
        self.expected = counts.get(self.topic, 0)

    def _raw(self) -> Iterator[tuple[int, bytes]]:
        if self.salvaged is not None:
            yield from mcap_salvage.messages(self.salvaged, self.topic)
            return
        with open_reader(self.path) as reader:
            conns = [c for c in reader.connections if c.topic == self.topic]
            for _, log_time, raw in reader.messages(connections=conns):
                yield log_time, bytes(raw)

    def scan(self) -> TopicScan:
        """Read the whole topic once: check the first frame, fingerprint all, note where reading stopped."""
        fingerprint, error, stamps = BagFingerprint(), "", []
        try:
            for log_time, raw in self._raw():
                if fingerprint.count == 0:
                    check_image_message(self.msgtype, raw, self.topic)
                stamps.append(header_stamp_ns(raw))
                fingerprint.add(log_time, raw)
        except READ_ERRORS as err:
            error = f"{type(err).__name__}: {err}"
        if self.salvaged is not None:
            error = f"{self.salvaged.name} was cut short ({error or 'no summary at its end'}); read up to the cut"
        if fingerprint.count == 0:
            why = f" (reading failed: {error})" if error else ""
            raise BagError(f"topic {self.topic!r} in {self.path} has no readable frames{why}",
                           fix="record a bag with frames on that topic")
        name = self.path.name or str(self.path)
        identity = BagIdentity(name=name, topic=self.topic, fingerprint=fingerprint.hexdigest(),
                               frame_count=fingerprint.count)
        return TopicScan(bag=identity, msgtype=self.msgtype, expected_frames=max(self.expected, fingerprint.count),
                         readable_frames=fingerprint.count, read_error=error, stamps=tuple(stamps))

    def frames(self, limit: int | None = None) -> Iterator[Frame]:
        """Frames in recorded order, stopping quietly after ``limit`` (the readable count from scan)."""
        for index, (log_time, raw) in enumerate(itertools.islice(self._raw(), limit)):
            yield Frame(index=index, log_time_ns=log_time, stamp_ns=header_stamp_ns(raw), data=raw)
