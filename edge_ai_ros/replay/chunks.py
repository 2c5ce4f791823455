"""Cut a long bag into time chunks that replay as independent tasks.

A chunk is a contiguous range of frame indices ``[start, stop)``: a new chunk starts at the
first frame whose header stamp is ``chunk_seconds`` or more after the stamp of the chunk's
first frame. Frames keep their index in the whole bag, so the outputs of all chunks of a bag
put together are the outputs of one whole-bag replay.

Why no overlap is needed: the inference node keeps no state from one frame to the next
(each image is preprocessed, run through the engine and decoded on its own; there is no
tracker, no temporal smoothing, no frame skipping in regression mode), so a frame's
detections do not depend on which frames were played before it. A future stage that does
carry state across frames (a tracker) would need chunks to overlap by its warm-up length.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from edge_ai_ros.bags.source import Frame
from edge_ai_ros.errors import ConfigError


@dataclass(frozen=True, kw_only=True)
class FrameRange:
    """Frames ``start`` .. ``stop - 1`` of one bag (``stop`` None: to the end of what reads)."""

    start: int = 0
    stop: int | None = None

    def __post_init__(self) -> None:
        if self.start < 0 or (self.stop is not None and self.stop <= self.start):
            raise ConfigError("frame range", f"[{self.start}, {self.stop}) is empty or negative")

    def describe(self, frames_read: int | None = None) -> str:
        last = (self.stop if self.stop is not None else frames_read or 0) - 1
        return f"frames {self.start}-{last}" if last >= self.start else f"frames from {self.start}"

    def indices(self, frames_read: int) -> range:
        return range(self.start, min(self.stop if self.stop is not None else frames_read, frames_read))


WHOLE_BAG = FrameRange()


def plan_chunks(stamps_ns: Sequence[int], chunk_seconds: float) -> list[FrameRange]:
    """Contiguous frame ranges of at most ``chunk_seconds`` of header-stamp time each (0: one range)."""
    if chunk_seconds < 0:
        raise ConfigError("--chunk-seconds", f"must be >= 0, got {chunk_seconds}", fix="0 replays each bag whole")
    if chunk_seconds == 0 or not stamps_ns:
        return [WHOLE_BAG]
    span_ns = int(chunk_seconds * 1e9)
    if span_ns <= 0:
        raise ConfigError("--chunk-seconds", f"{chunk_seconds} is shorter than a nanosecond")
    starts = [0]
    for index, stamp in enumerate(stamps_ns):
        if stamp - stamps_ns[starts[-1]] >= span_ns:
            starts.append(index)
    stops = [*starts[1:], len(stamps_ns)]
    return [FrameRange(start=a, stop=b) for a, b in zip(starts, stops, strict=True)]


def frames_in(frames: Iterable[Frame], chunk: FrameRange) -> Iterator[Frame]:
    """The frames of ``chunk`` from a whole-bag frame stream (frames before it are read and skipped)."""
    for frame in frames:
        if chunk.stop is not None and frame.index >= chunk.stop:
            return
        if frame.index >= chunk.start:
            yield frame
