"""keep_frame_buffers: freed frame-sized buffers are reused without page faults."""

from __future__ import annotations

import subprocess
import sys

import pytest

from edge_ai_ros.serving import heap

# Three 900 KB buffers per "frame" (DDS sample, C message, Python array), freed after each frame.
_FRAMES = """
import resource, sys
import numpy as np
if sys.argv[1] == "keep":
    from edge_ai_ros.serving.heap import keep_frame_buffers
    assert keep_frame_buffers()
def frame():
    bufs = [np.empty(921_600, np.uint8) for _ in range(3)]
    for b in bufs:
        b.fill(1)  # touch every page, as a memcpy into it does
for _ in range(5):
    frame()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(50):
    frame()
print((resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 50)
"""


def _faults_per_frame(mode: str) -> float:
    out = subprocess.run([sys.executable, "-c", _FRAMES, mode], capture_output=True, text=True, check=True)
    return float(out.stdout.strip())


@pytest.mark.skipif(heap._libc() is None or not hasattr(heap._libc(), "mallopt"), reason="not glibc")
def test_frame_buffers_stay_mapped_between_frames() -> None:
    default, kept = _faults_per_frame("default"), _faults_per_frame("keep")
    assert default > 300, f"glibc defaults no longer fault per frame ({default}); revisit heap.py"
    assert kept < 10, f"{kept} page faults per frame with keep_frame_buffers"
