"""Run the node graph of :mod:`edge_ai_ros.ros.graph_spec` in one process.

The same specs the launch file starts as processes become nodes in one rclpy context,
spun by one MultiThreadedExecutor in a thread of its own: no child processes to start or
reap, one clock for end-to-end latency, and a clean stop (the replay thread, the node's
worker, the executor and the context are all shut down and joined, in that order).

The detection collector is spun apart, by a SpinThread (ros/spin_thread.py). On the shared
MultiThreadedExecutor, a detection arriving while the previous one's callback still ran left
an entity ready in a busy callback group, and rclpy 7.1.6 then loops over it holding the GIL
(ros2/rclpy#1452): now and then the demo answered 44-94 of its 100 frames with e2e p99 of
0.3-1.5 s (seen in about one `make demo` in four here, before and after round 3's changes).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import rclpy
from rclpy.context import Context
from rclpy.executors import ExternalShutdownException, MultiThreadedExecutor
from rclpy.node import Node
from rclpy.parameter import Parameter

from edge_ai_ros.errors import ConfigError, EdgeAiError
from edge_ai_ros.ros.camera_source import CameraSource
from edge_ai_ros.ros.drivers.detection_collector import DetectionCollector
from edge_ai_ros.ros.environment import apply_ros_env_defaults
from edge_ai_ros.ros.graph_spec import CAMERA_SOURCE, INFERENCE_NODE, LIFECYCLE_MANAGER, NodeSpec
from edge_ai_ros.ros.spin_thread import SpinThread
from edge_ai_ros.stats import summarize

_EXECUTOR_THREADS = 4
_JOIN_S = 10.0


def _overrides(spec: NodeSpec) -> list[Parameter]:
    return [Parameter(name, value=value) for name, value in spec.parameters.items()]


def _make_node(spec: NodeSpec, context: Context, *, hold_camera: bool) -> Node:
    """The rclpy node for one spec; nodes import lazily so a missing model stack fails late."""
    common: dict[str, Any] = {"namespace": spec.namespace, "context": context,
                              "parameter_overrides": _overrides(spec)}
    if spec.remappings:
        common["cli_args"] = ["--ros-args", *(arg for a, b in spec.remappings for arg in ("-r", f"{a}:={b}"))]
    if spec.executable == INFERENCE_NODE:
        from edge_ai_ros.ros.inference_node import InferenceNode

        return InferenceNode(spec.name, **common)
    if spec.executable == CAMERA_SOURCE:
        if hold_camera:
            common["parameter_overrides"].append(Parameter("autostart", value=False))
        return CameraSource(**common)
    if spec.executable == LIFECYCLE_MANAGER:
        from edge_ai_ros.ros.lifecycle_manager import LifecycleManager

        return LifecycleManager(node_name=spec.name, **common)
    raise ConfigError("executable", f"unknown executable {spec.executable!r}", fix="use inference_node, "
                      "camera_source or lifecycle_manager")


def lifecycle_state(node: Node) -> str:
    """Label of a LifecycleNode's current state ("active", ...)."""
    machine = getattr(node, "_state_machine", None)
    return str(machine.current_state[1]) if machine is not None else "unknown"


class GraphRunner:
    """Context manager: builds the nodes, spins them, and tears everything down on exit.

    The camera source is held until the inference node is active (``start_camera``), so the
    first frames of a short bag are not published before anyone listens.
    """

    def __init__(self, specs: Sequence[NodeSpec], *, collect: bool = True) -> None:
        self._specs = tuple(specs)
        self._collect = collect
        self.context = Context()
        self.nodes: dict[str, Node] = {}
        self.collector: DetectionCollector | None = None
        self._executor: MultiThreadedExecutor | None = None
        self._thread: threading.Thread | None = None
        self._collector_spinner: SpinThread | None = None
        self.spin_error: BaseException | None = None

    def __enter__(self) -> GraphRunner:
        apply_ros_env_defaults()
        rclpy.init(context=self.context)
        try:
            for spec in self._specs:
                self.nodes[spec.executable] = _make_node(spec, self.context, hold_camera=True)
            if self._collect:
                ns = next((s.namespace for s in self._specs if s.executable == INFERENCE_NODE), "")
                self.collector = DetectionCollector(namespace=ns, context=self.context)
            self._start_executor()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _start_executor(self) -> None:
        self._executor = MultiThreadedExecutor(num_threads=_EXECUTOR_THREADS, context=self.context)
        for node in self.nodes.values():
            self._executor.add_node(node)
        if self.collector is not None:
            self._collector_spinner = SpinThread(self.collector, kind="single", name="graph_collector")
        self._thread = threading.Thread(target=self._spin, name="graph_executor", daemon=True)
        self._thread.start()

    def _spin(self) -> None:
        assert self._executor is not None
        try:
            self._executor.spin()
        except ExternalShutdownException:
            pass
        except BaseException as err:  # reported to the main thread, which decides the exit code
            self.spin_error = err

    def _all_nodes(self) -> list[Node]:
        return [*self.nodes.values(), *([self.collector] if self.collector is not None else [])]

    @property
    def camera(self) -> CameraSource | None:
        node = self.nodes.get(CAMERA_SOURCE)
        return node if isinstance(node, CameraSource) else None

    @property
    def ok(self) -> bool:
        return self.context.ok() and self.spin_error is None

    def wait_until(self, condition: Callable[[], bool], timeout_s: float, poll_s: float = 0.05) -> bool:
        """Poll ``condition`` until true, the timeout, or the context shuts down (Ctrl-C)."""
        deadline = time.monotonic() + timeout_s
        while not condition():
            if time.monotonic() >= deadline or not self.ok:
                return False
            time.sleep(poll_s)
        return True

    def wait_inference_active(self, timeout_s: float) -> None:
        node = self.nodes.get(INFERENCE_NODE)
        if node is None:
            return
        if not self.wait_until(lambda: lifecycle_state(node) == "active", timeout_s):
            raise EdgeAiError(f"inference_node is {lifecycle_state(node)!r}, not active, after {timeout_s:.0f} s",
                              fix="read the node's log above (model path, backend); with a lifecycle manager, "
                                  "check that it started")

    def start_camera(self) -> None:
        if self.camera is not None:
            self.camera.start()

    def close(self) -> None:
        """Stop replay, release the model, stop the executor and the context (idempotent)."""
        if self.camera is not None:
            self.camera.stop()
        release = getattr(self.nodes.get(INFERENCE_NODE), "release_resources", None)
        if release is not None:
            release()
        if self._collector_spinner is not None:
            self._collector_spinner.stop()
        if self._executor is not None:
            self._executor.shutdown(timeout_sec=_JOIN_S)
            # rclpy 7.1.6 (Jazzy): MultiThreadedExecutor.shutdown leaves its worker pool running.
            pool = getattr(self._executor, "_executor", None)
            if pool is not None:
                pool.shutdown(wait=True)
        rclpy.try_shutdown(context=self.context)
        if self._thread is not None:
            self._thread.join(_JOIN_S)
        for node in self._all_nodes():
            node.destroy_node()
        self.nodes, self.collector, self._executor, self._thread = {}, None, None, None
        self._collector_spinner = None


@dataclass(frozen=True, kw_only=True)
class LiveLine:
    """One second of the graph, as the demo prints it."""

    frames_in: int
    frames_out: int
    fps: float
    e2e_p50_ms: float | None
    engine_p50_ms: float | None

    def format(self) -> str:
        e2e = f"{self.e2e_p50_ms:6.1f} ms" if self.e2e_p50_ms is not None else "     - ms"
        eng = f"{self.engine_p50_ms:5.1f} ms" if self.engine_p50_ms is not None else "    - ms"
        return (f"frames in {self.frames_in:4d} out {self.frames_out:4d} | {self.fps:5.1f} fps | "
                f"e2e p50 {e2e} | engine p50 {eng}")


class LiveMeter:
    """Turns the runner's counters into one LiveLine per call (frames since the last call)."""

    def __init__(self, runner: GraphRunner) -> None:
        self._runner = runner
        self._seen = 0
        self._last = time.monotonic()

    def line(self) -> LiveLine:
        now = time.monotonic()
        received = self._runner.collector.received if self._runner.collector is not None else []
        fresh = received[self._seen:]
        self._seen, elapsed, self._last = len(received), max(now - self._last, 1e-6), now
        camera = self._runner.camera
        return LiveLine(
            frames_in=len(camera.published) if camera is not None else 0, frames_out=len(received),
            fps=len(fresh) / elapsed,
            e2e_p50_ms=summarize((r.latency_s for r in fresh), scale=1e3).p50 if fresh else None,
            engine_p50_ms=_engine_p50(self._runner),
        )


def _engine_p50(runner: GraphRunner) -> float | None:
    value = runner.collector.diagnostics.get("inference_ms_p50") if runner.collector is not None else None
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def run_until_done(runner: GraphRunner, *, exit_on_end: bool, startup_timeout_s: float = 60.0,
                   on_line: Callable[[LiveLine], None] | None = None, drain_s: float = 2.0) -> None:
    """Bring the graph up, then serve until Ctrl-C, or until the bag ends with ``exit_on_end``.

    After the bag ends, waits up to ``drain_s`` for detections of the last frames.
    """
    runner.wait_inference_active(startup_timeout_s)
    runner.start_camera()
    meter = LiveMeter(runner)
    camera = runner.camera
    next_line = time.monotonic() + 1.0
    while runner.ok:
        if exit_on_end and camera is not None and camera.finished.is_set():
            break
        time.sleep(0.05)
        if on_line is not None and time.monotonic() >= next_line:
            on_line(meter.line())
            next_line += 1.0
    if runner.spin_error is not None:
        raise EdgeAiError(f"the executor stopped: {runner.spin_error!r}", fix="see the traceback in the log")
    if camera is not None and runner.collector is not None:
        collector = runner.collector
        runner.wait_until(lambda: collector.count >= len(camera.published), drain_s)
    if on_line is not None:
        on_line(meter.line())
