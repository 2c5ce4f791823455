"""Read what is readable of an MCAP file whose end is missing (a recorder that was killed).

rosbags opens an MCAP file through its summary at the end of the file, so a file cut
short does not open at all. The records before the cut are intact: this streams them in
file order with the ``mcap`` package's StreamReader and stops where the data ends,
re-raising that error so the caller can report how far it got.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import yaml
from mcap.exceptions import McapError
from mcap.records import Channel, Message, Schema
from mcap.stream_reader import StreamReader

# What a cut-short stream raises inside the mcap package.
STREAM_ERRORS = (McapError, EOFError, ValueError, OSError)


def _records(path: Path) -> Iterator[object]:
    with open(path, "rb") as handle:
        yield from StreamReader(handle, skip_magic=False).records


def topics(path: Path) -> dict[str, str]:
    """topic -> message type of every channel declared before the cut."""
    schemas: dict[int, str] = {}
    found: dict[str, str] = {}
    try:
        for record in _records(path):
            if isinstance(record, Schema):
                schemas[record.id] = record.name
            elif isinstance(record, Channel):
                found[record.topic] = schemas.get(record.schema_id, "")
    except STREAM_ERRORS:
        pass
    return found


def messages(path: Path, topic: str) -> Iterator[tuple[int, bytes]]:
    """(log time ns, CDR bytes) of ``topic`` in file order; raises the stream's error at the cut."""
    channel_ids: set[int] = set()
    for record in _records(path):
        if isinstance(record, Channel) and record.topic == topic:
            channel_ids.add(record.id)
        elif isinstance(record, Message) and record.channel_id in channel_ids:
            yield record.log_time, bytes(record.data)


def metadata_counts(bag_dir: Path) -> dict[str, int]:
    """Message counts per topic from metadata.yaml (what the recorder meant to write), if present."""
    meta = bag_dir / "metadata.yaml"
    if not meta.is_file():
        return {}
    try:
        info = yaml.safe_load(meta.read_text(encoding="utf-8"))["rosbag2_bagfile_information"]
        return {t["topic_metadata"]["name"]: int(t["message_count"]) for t in info["topics_with_message_count"]}
    except (yaml.YAMLError, KeyError, TypeError, ValueError):
        return {}
