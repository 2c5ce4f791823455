"""Calibration frames from one image topic of a rosbag2 bag (read with rosbags).

The bag's topic is read once, keeping the raw CDR bytes; frames are decoded only when the
sampler picks them. Topic lookup, type checks and decoding are the replay tool's
(``bags/source.py``), so calibration decodes exactly as replay and the node do.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path

import numpy as np

from edge_ai_ros.bags.source import READ_ERRORS, check_image_message, decode_frame, open_reader, resolve_topic
from edge_ai_ros.errors import BagError, CompileError


def bag_frame_loaders(path: Path, topic: str) -> list[Callable[[], np.ndarray]]:
    """One lazy RGB-frame loader per message on ``topic``, in recorded order."""
    if not topic:
        raise CompileError(f"calibration source {path} is a bag but no topic was given",
                           fix="pass --calib-topic with an image topic of the bag")
    try:
        with open_reader(path) as reader:
            kinds = {c.topic: c.msgtype for c in reader.connections}
            name = resolve_topic(kinds, topic)
            conns = [c for c in reader.connections if c.topic == name]
            raws = [bytes(raw) for _, _, raw in reader.messages(connections=conns)]
        if raws:
            check_image_message(kinds[name], raws[0], name)
    except BagError as err:
        raise CompileError(f"calibration bag {path}: {err}", fix=err.fix) from err
    except READ_ERRORS as err:
        raise CompileError(f"calibration bag {path} cannot be read: {err}", fix="re-record or repair the bag") from err
    msgtype = kinds[name]
    return [functools.partial(decode_frame, msgtype, raw) for raw in raws]
