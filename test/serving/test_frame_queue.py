"""Latest-frame and in-order hand-off between subscription callbacks and the worker."""

from __future__ import annotations

import threading

import pytest

from edge_ai_ros.errors import ConfigError
from edge_ai_ros.serving.frame_queue import FrameQueue


def test_latest_policy_keeps_only_the_newest_and_counts_the_replaced_one() -> None:
    queue: FrameQueue[int] = FrameQueue(policy="latest", capacity=30)
    assert [queue.put(i) for i in range(4)] == [0, 1, 1, 1]
    assert queue.get(0.1) == 3
    assert queue.get(0.01) is None


def test_none_policy_keeps_every_frame_in_order_and_blocks_when_full() -> None:
    queue: FrameQueue[int] = FrameQueue(policy="none", capacity=2, put_timeout_s=5.0)
    assert queue.put(0) == 0 and queue.put(1) == 0
    result: list[int] = []
    producer = threading.Thread(target=lambda: result.append(queue.put(2)))
    producer.start()
    assert queue.get(1.0) == 0  # makes room: the blocked put goes through
    producer.join(5.0)
    assert result == [0]
    assert [queue.get(1.0), queue.get(1.0)] == [1, 2]


def test_none_policy_counts_a_frame_as_dropped_after_the_backpressure_timeout() -> None:
    queue: FrameQueue[int] = FrameQueue(policy="none", capacity=1, put_timeout_s=0.05)
    assert queue.put(0) == 0
    assert queue.put(1) == 1


def test_close_wakes_the_worker_and_refuses_new_frames() -> None:
    queue: FrameQueue[int] = FrameQueue(policy="latest", capacity=1)
    queue.close()
    assert queue.get(5.0) is None and queue.closed
    assert queue.put(1) == 1


def test_unknown_policy_is_refused() -> None:
    with pytest.raises(ConfigError, match="drop_policy"):
        FrameQueue(policy="oldest", capacity=1)
