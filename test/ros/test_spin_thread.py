"""SpinThread: both executor kinds deliver messages, stop promptly, and "events" falls back."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator

import pytest

rclpy = pytest.importorskip("rclpy")

from rclpy.node import Node  # noqa: E402
from std_msgs.msg import String  # noqa: E402

from edge_ai_ros.ros import spin_thread  # noqa: E402
from edge_ai_ros.ros.spin_thread import SpinThread, make_executor  # noqa: E402

_WAIT_S = 10.0


@pytest.fixture()
def context() -> Iterator[object]:
    ctx = rclpy.Context()
    rclpy.init(context=ctx, domain_id=int(os.environ.get("ROS_DOMAIN_ID", "0")))
    yield ctx
    rclpy.try_shutdown(context=ctx)


def _round_trip(context: object, kind: str, topic: str) -> tuple[str, list[str], float]:
    """Publish until the spun node's subscription has one message; return (kind used, got, stop seconds)."""
    node = Node(f"spin_{kind}", context=context)  # type: ignore[arg-type]
    got: list[str] = []
    arrived = threading.Event()

    def on_msg(msg: String) -> None:
        got.append(msg.data)
        arrived.set()

    node.create_subscription(String, topic, on_msg, 10)
    pub = node.create_publisher(String, topic, 10)
    spinner = SpinThread(node, kind=kind, name=f"test_{kind}")
    try:
        deadline = time.monotonic() + _WAIT_S
        while not arrived.wait(0.05) and time.monotonic() < deadline:
            pub.publish(String(data="hello"))
    finally:
        start = time.monotonic()
        spinner.stop()
        stopped_in = time.monotonic() - start
    count = len(got)
    pub.publish(String(data="after stop"))
    time.sleep(0.2)
    assert len(got) == count, "a stopped SpinThread still ran callbacks"
    node.destroy_node()
    return spinner.kind, got, stopped_in


@pytest.mark.parametrize("kind", ["events", "single"])
def test_each_kind_delivers_and_stops_at_once(context: object, kind: str) -> None:
    used, got, stopped_in = _round_trip(context, kind, f"/t_spin_{kind}")
    assert got and got[0] == "hello"
    expected = kind if kind == "single" or spin_thread.events_executor_available() else "single"
    assert used == expected
    assert stopped_in < 2.0  # woken, not left to a spin slice or the events executor's shutdown hang


def test_events_falls_back_to_single_without_an_events_executor(context: object,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(spin_thread, "events_executor_available", lambda: False)
    used, got, _ = _round_trip(context, "events", "/t_spin_fallback")
    assert used == "single" and got


def test_unknown_kind_is_refused(context: object) -> None:
    node = Node("spin_bad", context=context)  # type: ignore[arg-type]
    try:
        with pytest.raises(ValueError, match="not one of"):
            make_executor("multi", node)
    finally:
        node.destroy_node()


@pytest.mark.parametrize("kind", ["events", "single"])
def test_call_runs_on_the_spin_thread_and_hands_back_results_and_errors(context: object, kind: str) -> None:
    node = Node(f"spin_call_{kind}", context=context)  # type: ignore[arg-type]
    spinner = SpinThread(node, kind=kind, name="test_call")
    got: list[str] = []

    def on_msg(msg: String) -> None:
        got.append(msg.data)

    try:
        assert spinner.call(threading.current_thread) is not threading.current_thread()
        sub = spinner.call(lambda: node.create_subscription(String, f"/t_spin_call_{kind}", on_msg, 10))
        assert sub in node.subscriptions
        pub = node.create_publisher(String, f"/t_spin_call_{kind}", 10)
        deadline = time.monotonic() + _WAIT_S
        while not got and time.monotonic() < deadline:  # the subscription made by call() is spun
            pub.publish(String(data="made while spinning"))
            time.sleep(0.05)
        assert got and got[0] == "made while spinning"
        with pytest.raises(ZeroDivisionError):
            spinner.call(lambda: 1 // 0)
    finally:
        spinner.stop()
    with pytest.raises(RuntimeError, match="stopped"):
        spinner.call(lambda: None)
    node.destroy_node()


def test_a_call_that_cannot_start_in_time_is_cancelled_and_never_runs(context: object,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    node = Node("spin_cancel", context=context)  # type: ignore[arg-type]
    spinner = SpinThread(node, kind="events", name="test_cancel")
    ran: list[str] = []
    started, release = threading.Event(), threading.Event()

    def block() -> None:
        started.set()
        release.wait(_WAIT_S)

    blocker = threading.Thread(target=lambda: spinner.call(block))
    try:
        blocker.start()
        assert started.wait(_WAIT_S)  # the spin thread is inside the first call now
        monkeypatch.setattr(spin_thread, "_CALL_TIMEOUT_S", 0.2)
        with pytest.raises(TimeoutError, match="did not start"):
            spinner.call(lambda: ran.append("late"))
        monkeypatch.undo()
        release.set()
        blocker.join(_WAIT_S)
        assert spinner.call(lambda: "next") == "next"  # the thread goes on; the cancelled call was skipped
        assert ran == []
    finally:
        release.set()
        spinner.stop()
        node.destroy_node()
