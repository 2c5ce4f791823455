"""The lifecycle manager drives real rclpy managed nodes through their standard services."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

rclpy = pytest.importorskip("rclpy")

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus  # noqa: E402
from rclpy.executors import MultiThreadedExecutor  # noqa: E402
from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn  # noqa: E402
from rclpy.parameter import Parameter  # noqa: E402

from edge_ai_ros.ros.lifecycle_manager import LifecycleManager  # noqa: E402


class _Recorder(LifecycleNode):
    """A managed node that records its transitions, and can be told to fail configure."""

    log: list[str] = []

    def __init__(self, name: str, *, context: object, fail_configure: bool = False) -> None:
        super().__init__(name, context=context)  # type: ignore[arg-type]
        self.fail_configure = fail_configure

    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        self.log.append(f"{self.get_name()}:configure")
        if self.fail_configure:
            return TransitionCallbackReturn.FAILURE
        return TransitionCallbackReturn.SUCCESS

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        self.log.append(f"{self.get_name()}:activate")
        return super().on_activate(state)

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        self.log.append(f"{self.get_name()}:deactivate")
        return super().on_deactivate(state)

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        self.log.append(f"{self.get_name()}:cleanup")
        return TransitionCallbackReturn.SUCCESS


@pytest.fixture
def context() -> Iterator[object]:
    ctx = rclpy.Context()
    rclpy.init(context=ctx)
    yield ctx
    if ctx.ok():
        rclpy.shutdown(context=ctx)


def _spin(executor: MultiThreadedExecutor, nodes: list[object]) -> threading.Thread:
    for node in nodes:
        executor.add_node(node)  # type: ignore[arg-type]
    thread = threading.Thread(target=executor.spin, daemon=True)
    thread.start()
    return thread


def _manager(context: object, names: list[str], timeout_s: float = 5.0) -> LifecycleManager:
    return LifecycleManager(
        context=context,
        parameter_overrides=[
            Parameter("node_names", Parameter.Type.STRING_ARRAY, names),
            Parameter("transition_timeout_s", Parameter.Type.DOUBLE, timeout_s),
            Parameter("diagnostics_period_s", Parameter.Type.DOUBLE, 0.1),
        ],
    )


def _stop(executor: MultiThreadedExecutor, thread: threading.Thread, nodes: list[object]) -> None:
    executor.shutdown()
    thread.join(timeout=5)
    for node in nodes:
        node.destroy_node()  # type: ignore[attr-defined]


def test_brings_nodes_up_in_order_and_down_in_reverse(context: object) -> None:
    _Recorder.log = []
    a, b = _Recorder("lm_a", context=context), _Recorder("lm_b", context=context)
    manager = _manager(context, ["lm_a", "lm_b"])
    executor = MultiThreadedExecutor(num_threads=4, context=context)  # type: ignore[arg-type]
    thread = _spin(executor, [a, b, manager])
    try:
        assert manager.startup_done.wait(20), "autostart did not finish"
        assert manager.startup_ok
        assert manager.states() == {"lm_a": "active", "lm_b": "active"}
        assert _Recorder.log == ["lm_a:configure", "lm_a:activate", "lm_b:configure", "lm_b:activate"]
        ok, message = manager.shutdown_nodes()
        assert ok, message
        assert _Recorder.log[4:] == ["lm_b:deactivate", "lm_b:cleanup", "lm_a:deactivate", "lm_a:cleanup"]
        assert manager.states() == {"lm_a": "unconfigured", "lm_b": "unconfigured"}
    finally:
        _stop(executor, thread, [a, b, manager])


def test_failed_configure_stops_bringup_and_reports_error(context: object) -> None:
    _Recorder.log = []
    a = _Recorder("lm_fail", context=context, fail_configure=True)
    b = _Recorder("lm_after", context=context)
    manager = _manager(context, ["lm_fail", "lm_after"])
    diagnostics: list[DiagnosticArray] = []
    manager.create_subscription(DiagnosticArray, "/diagnostics", diagnostics.append, 10)
    executor = MultiThreadedExecutor(num_threads=4, context=context)  # type: ignore[arg-type]
    thread = _spin(executor, [a, b, manager])
    try:
        assert manager.startup_done.wait(20)
        assert not manager.startup_ok
        assert "lm_after:configure" not in _Recorder.log, "bring-up must stop at the first failure"
        assert manager.states()["lm_fail"] == "unconfigured"
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            errors = [s for d in diagnostics for s in d.status
                      if s.hardware_id == "lm_fail" and s.level == DiagnosticStatus.ERROR]
            if errors:
                break
            time.sleep(0.05)
        assert errors and "configure" in errors[-1].message
    finally:
        _stop(executor, thread, [a, b, manager])


def test_missing_node_is_reported_unreachable_within_timeout(context: object) -> None:
    manager = _manager(context, ["lm_nobody_home"], timeout_s=0.5)
    executor = MultiThreadedExecutor(num_threads=2, context=context)  # type: ignore[arg-type]
    thread = _spin(executor, [manager])
    try:
        assert manager.startup_done.wait(10)
        assert not manager.startup_ok
        assert manager.states() == {"lm_nobody_home": "unreachable"}
    finally:
        _stop(executor, thread, [manager])
