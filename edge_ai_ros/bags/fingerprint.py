"""Which recording a run is of: a bag topic's name and a content hash of its messages."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True, kw_only=True)
class BagIdentity:
    """Which recording a run is of: the topic and a content hash of its messages."""

    name: str  # the bag directory's name, for messages only
    topic: str
    fingerprint: str  # "sha256:<hex>" over (log time, message bytes) of every frame
    frame_count: int


class BagFingerprint:
    """Incremental content hash of one topic: the same messages give the same value in any storage."""

    def __init__(self) -> None:
        self._digest = hashlib.sha256()
        self.count = 0

    def add(self, log_time_ns: int, data: bytes | memoryview) -> None:
        self._digest.update(int(log_time_ns).to_bytes(8, "little", signed=True))
        self._digest.update(hashlib.sha256(data).digest())
        self.count += 1

    def hexdigest(self) -> str:
        return f"sha256:{self._digest.hexdigest()}"


def fingerprint_messages(messages: Iterable[tuple[int, bytes | memoryview]]) -> str:
    """The fingerprint of (log time, message bytes) pairs, as :class:`BagFingerprint` computes it."""
    fingerprint = BagFingerprint()
    for log_time_ns, data in messages:
        fingerprint.add(log_time_ns, data)
    return fingerprint.hexdigest()
