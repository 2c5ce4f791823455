"""A small lifecycle manager for Python managed nodes.

Nav2's lifecycle manager relies on bond, which rclpy nodes do not speak; this one drives
the standard lifecycle services (``<node>/get_state``, ``<node>/change_state``) instead.
It brings the listed nodes up in order (configure, then activate), takes them down in
reverse order, gives each transition a bounded time, and reports every node's state on
``/diagnostics`` so an operator sees which one is stuck.

Transitions are requested by label, never by id: rclpy 7.1.6 (Jazzy) kills its executor
when a change_state request carries an id that is invalid from the current state.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from lifecycle_msgs.msg import State
from lifecycle_msgs.srv import ChangeState, GetState
from rcl_interfaces.msg import FloatingPointRange, ParameterDescriptor, SetParametersResult
from rclpy.callback_groups import ReentrantCallbackGroup
from rclpy.client import Client
from rclpy.node import Node
from rclpy.parameter import Parameter
from std_srvs.srv import Trigger

from edge_ai_ros.ros.node_main import spin_node

_STATE_LABELS = {
    State.PRIMARY_STATE_UNKNOWN: "unknown",
    State.PRIMARY_STATE_UNCONFIGURED: "unconfigured",
    State.PRIMARY_STATE_INACTIVE: "inactive",
    State.PRIMARY_STATE_ACTIVE: "active",
    State.PRIMARY_STATE_FINALIZED: "finalized",
}


@dataclass
class _Managed:
    name: str
    get_state: Client
    change_state: Client
    state: str = "unknown"
    error: str = ""


class LifecycleManager(Node):
    """Configures and activates ``node_names`` in order; deactivates and cleans up in reverse."""

    def __init__(self, *, node_name: str = "lifecycle_manager", **kwargs: object) -> None:
        super().__init__(node_name, **kwargs)  # type: ignore[arg-type]
        self._declare_parameters()
        self._group = ReentrantCallbackGroup()
        self._lock = threading.Lock()
        self._busy = False
        names = [str(n) for n in self.get_parameter("node_names").value or []]
        self._managed = [self._make_client_pair(n) for n in names]
        self._diag_pub = self.create_publisher(DiagnosticArray, "/diagnostics", 10)
        period = float(self.get_parameter("diagnostics_period_s").value)
        self.create_timer(period, self._publish_diagnostics, callback_group=self._group)
        self.create_service(Trigger, "~/startup", self._on_startup, callback_group=self._group)
        self.create_service(Trigger, "~/shutdown", self._on_shutdown, callback_group=self._group)
        self.add_on_set_parameters_callback(self._validate_parameters)
        self.startup_done = threading.Event()
        self.startup_ok = False
        if self.get_parameter("autostart").value:
            threading.Thread(target=self._autostart, name="lifecycle_autostart", daemon=True).start()

    # ---- parameters ----------------------------------------------------------------------
    def _declare_parameters(self) -> None:
        self.declare_parameter(
            "node_names", Parameter.Type.STRING_ARRAY,
            ParameterDescriptor(description="Managed nodes, brought up in this order (names as "
                                "they resolve from this node's namespace)", read_only=True),
        )
        self.declare_parameter(
            "autostart", True,
            ParameterDescriptor(description="Configure and activate every node when the manager starts",
                                read_only=True),
        )
        self.declare_parameter(
            "transition_timeout_s", 10.0,
            ParameterDescriptor(description="Longest wait for one node's service or transition, seconds",
                                floating_point_range=[FloatingPointRange(from_value=0.1, to_value=600.0)]),
        )
        self.declare_parameter(
            "diagnostics_period_s", 1.0,
            ParameterDescriptor(description="Period of the /diagnostics report, seconds", read_only=True,
                                floating_point_range=[FloatingPointRange(from_value=0.05, to_value=60.0)]),
        )

    def _validate_parameters(self, params: list[Parameter]) -> SetParametersResult:
        for param in params:
            if param.name == "transition_timeout_s" and not 0.1 <= float(param.value) <= 600.0:
                return SetParametersResult(successful=False,
                                           reason="transition_timeout_s must be within [0.1, 600] seconds")
        return SetParametersResult(successful=True)

    def _make_client_pair(self, name: str) -> _Managed:
        return _Managed(
            name=name,
            get_state=self.create_client(GetState, f"{name}/get_state", callback_group=self._group),
            change_state=self.create_client(ChangeState, f"{name}/change_state", callback_group=self._group),
        )

    # ---- bring-up and take-down -------------------------------------------------------------
    def startup(self) -> tuple[bool, str]:
        """Configure then activate every node in order; stop at the first that fails."""
        return self._run_exclusive(self._startup_all)

    def shutdown_nodes(self) -> tuple[bool, str]:
        """Deactivate then clean up every node in reverse order."""
        return self._run_exclusive(self._shutdown_all)

    def _run_exclusive(self, job: Callable[[], tuple[bool, str]]) -> tuple[bool, str]:
        with self._lock:
            if self._busy:
                return False, "another startup/shutdown is in progress; try again when it ends"
            self._busy = True
        try:
            return job()
        finally:
            with self._lock:
                self._busy = False

    def _startup_all(self) -> tuple[bool, str]:
        for managed in self._managed:
            ok = self._bring_up(managed)
            if not ok:
                return False, f"{managed.name}: {managed.error}"
        return True, f"{len(self._managed)} node(s) active"

    def _bring_up(self, managed: _Managed) -> bool:
        state = self._query_state(managed)
        if state == "unconfigured" and not self._transition(managed, "configure"):
            return False
        if managed.state == "inactive" and not self._transition(managed, "activate"):
            return False
        if managed.state != "active":
            managed.error = managed.error or f"ended in state {managed.state!r}, expected 'active'"
            return False
        managed.error = ""
        return True

    def _shutdown_all(self) -> tuple[bool, str]:
        failed = []
        for managed in reversed(self._managed):
            state = self._query_state(managed)
            if state == "active" and not self._transition(managed, "deactivate"):
                failed.append(managed.name)
                continue
            if managed.state == "inactive" and not self._transition(managed, "cleanup"):
                failed.append(managed.name)
        if failed:
            return False, "could not take down: " + ", ".join(failed)
        return True, f"{len(self._managed)} node(s) unconfigured"

    def _timeout(self) -> float:
        return float(self.get_parameter("transition_timeout_s").value)

    def _call(self, client: Client, request: object, managed: _Managed, what: str) -> object | None:
        timeout = self._timeout()
        if not client.wait_for_service(timeout_sec=timeout):
            managed.error = f"service {client.srv_name} not available after {timeout:.1f} s"
            managed.state = "unreachable"
            return None
        done = threading.Event()
        future = client.call_async(request)
        future.add_done_callback(lambda _f: done.set())
        if not done.wait(timeout):
            client.remove_pending_request(future)
            managed.error = f"{what} did not answer within {timeout:.1f} s"
            return None
        answer: object | None = future.result()
        return answer

    def _query_state(self, managed: _Managed) -> str:
        response = self._call(managed.get_state, GetState.Request(), managed, "get_state")
        if response is not None:
            state = response.current_state  # type: ignore[attr-defined]
            managed.state = _STATE_LABELS.get(state.id, str(state.label))
        return managed.state

    def _transition(self, managed: _Managed, label: str) -> bool:
        request = ChangeState.Request()
        request.transition.label = label
        response = self._call(managed.change_state, request, managed, f"transition '{label}'")
        if response is None:
            return False
        if not response.success:  # type: ignore[attr-defined]
            managed.error = f"transition '{label}' failed (see that node's log for the reason)"
            self._query_state(managed)
            return False
        self.get_logger().info(f"{managed.name}: {label} succeeded")
        self._query_state(managed)
        return True

    def _autostart(self) -> None:
        self.startup_ok, message = self.startup()
        log = self.get_logger().info if self.startup_ok else self.get_logger().error
        log(f"autostart: {message}")
        self.startup_done.set()

    # ---- services and diagnostics -----------------------------------------------------------
    def _on_startup(self, _request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        response.success, response.message = self.startup()
        return response

    def _on_shutdown(self, _request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        response.success, response.message = self.shutdown_nodes()
        return response

    def _publish_diagnostics(self) -> None:
        array = DiagnosticArray()
        array.header.stamp = self.get_clock().now().to_msg()
        for managed in self._managed:
            status = DiagnosticStatus()
            status.name = f"{self.get_name()}: {managed.name}"
            status.hardware_id = managed.name
            if managed.state == "active":
                status.level, status.message = DiagnosticStatus.OK, "active"
            elif managed.state in ("unreachable", "finalized") or managed.error:
                status.level = DiagnosticStatus.ERROR
                status.message = managed.error or managed.state
            else:
                status.level, status.message = DiagnosticStatus.WARN, managed.state
            status.values = [KeyValue(key="state", value=managed.state),
                             KeyValue(key="error", value=managed.error)]
            array.status.append(status)
        self._diag_pub.publish(array)

    def states(self) -> dict[str, str]:
        return {m.name: m.state for m in self._managed}


def main(args: Sequence[str] | None = None) -> int:
    # Two threads: bring-up waits on service answers that the executor must deliver meanwhile.
    return spin_node(LifecycleManager, args, threads=2)

if __name__ == "__main__":
    sys.exit(main())
