"""Benchmark the inference node as deployed: 640x480 rgb8 frames at 30 Hz from another process.

Two phases in one run, with the same frame, QoS, Fast DDS profile and publisher process:
1. transport baseline: a bare rclpy echo process (ros/drivers/transport_echo.py, taking frames with the
   node's own intake and ``frame_executor``) answers each frame at once, so we see what
   publish -> callback costs any rclpy subscriber. The node is already up (idle) so the machine
   looks the same in both phases.
2. the inference node in its own process with ``publish_frame_timings`` on, so every
   answered frame carries its own stage times (ros/frame_timings.py).
All times are CLOCK_MONOTONIC, shared by the processes, so each frame's end-to-end (publish ->
detections received) splits into transport in, node stages and transport out, and its overhead
is its own end-to-end minus its own engine time (benchmarks/node_report.py). Resident memory
comes from /proc/<pid>/status after warm-up; /proc/<pid>/maps tells whether torch was loaded.
The client is spun like the node's intake (ros/spin_thread.py): a downstream subscriber that
is quick to take what the node publishes.
"""

from __future__ import annotations

import array
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.node import Node
from sensor_msgs.msg import Image
from std_msgs.msg import Float64MultiArray, Header

from edge_ai_ros.benchmarks.node_report import BenchResult, FrameLog, baseline_rows, node_rows, spreads
from edge_ai_ros.errors import EdgeAiError
from edge_ai_ros.msg import DetectionArray
from edge_ai_ros.ros import frame_timings
from edge_ai_ros.ros.conversions import stamp_ns
from edge_ai_ros.ros.drivers.node_process import NodeLaunch, start_node, stop_node
from edge_ai_ros.ros.environment import apply_ros_env_defaults
from edge_ai_ros.ros.qos import image_qos, output_qos
from edge_ai_ros.ros.spin_thread import SpinThread

NAMESPACE = "/bench_node"
ECHO_NAMESPACE = "/bench_echo"
ECHO_MODULE = "edge_ai_ros.ros.drivers.transport_echo"


@dataclass(frozen=True, kw_only=True)
class BenchConfig:
    manifest: str = ""  # "" = the shipped demo detector
    backend: str = "auto"
    frames: int = 300
    warmup_frames: int = 30
    baseline_frames: int = 150  # frames to the bare rclpy echo first; 0 skips the baseline
    hz: float = 30.0
    width: int = 640
    height: int = 480
    startup_timeout_s: float = 60.0
    log_path: Path | None = None
    node_parameters: dict[str, object] = field(default_factory=dict)  # extra -p for the node


class _Client(Node):
    """Publishes frames to the node or the echo and logs what comes back."""

    def __init__(self, context: rclpy.Context) -> None:
        super().__init__("bench_node_client", context=context)
        qos = image_qos(depth=5, reliability="best_effort")
        self.pubs = {ns: self.create_publisher(Image, f"{ns}/image", qos) for ns in (NAMESPACE, ECHO_NAMESPACE)}
        self.sent: dict[int, float] = {}
        self.logs = {ns: FrameLog() for ns in (NAMESPACE, ECHO_NAMESPACE)}
        self.status: dict[str, str] = {}
        self.status_count = 0
        self.lock = threading.Lock()
        self.create_subscription(DetectionArray, f"{NAMESPACE}/detections", self._on_detections, output_qos())
        for ns, topic in ((NAMESPACE, f"{NAMESPACE}/inference_node/frame_timings"),
                          (ECHO_NAMESPACE, f"{ECHO_NAMESPACE}/frame_timings")):
            self.create_subscription(Float64MultiArray, topic, self._timings_callback(ns), output_qos())
        self.create_subscription(DiagnosticArray, "/diagnostics", self._on_diagnostics, 10)

    def _on_detections(self, msg: DetectionArray) -> None:
        now = frame_timings.now()
        stamp = stamp_ns(msg.header.stamp)
        with self.lock:
            if stamp in self.sent:
                self.logs[NAMESPACE].received[stamp] = now

    def _timings_callback(self, ns: str) -> Callable[[Float64MultiArray], None]:
        def on_timings(msg: Float64MultiArray) -> None:
            now = frame_timings.now()
            times = frame_timings.from_msg(msg)
            if times is None:
                return
            with self.lock:
                if times.stamp_ns in self.sent:
                    self.logs[ns].timings[times.stamp_ns] = times
                    if ns == ECHO_NAMESPACE:  # the echo's record is its reply
                        self.logs[ns].received[times.stamp_ns] = now

        return on_timings

    def _on_diagnostics(self, msg: DiagnosticArray) -> None:
        for status in msg.status:
            if status.name == f"{NAMESPACE}/inference_node":
                with self.lock:
                    self.status = {kv.key: kv.value for kv in status.values}
                    self.status_count += 1

    def publish_frame(self, ns: str, msg: Image, index: int) -> None:
        stamp = time.time_ns() // 1000 * 1000 + index % 1000
        msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(stamp, 1_000_000_000)
        with self.lock:
            self.sent[stamp] = frame_timings.now()
        self.pubs[ns].publish(msg)

    def answered(self, ns: str) -> bool:
        with self.lock:
            log = self.logs[ns]
            return len(log.received) >= len(self.sent) and len(log.timings) >= len(self.sent)

    def clear(self, ns: str) -> dict[str, str]:
        """Forget warm-up frames; return the diagnostics status seen at this point."""
        with self.lock:
            self.sent = {}  # rows already computed keep the old dict
            self.logs[ns].clear()
            return dict(self.status)


def _frame(config: BenchConfig) -> Image:
    rng = np.random.default_rng(0)
    try:
        from edge_ai_ros.demo.scene import render, sample_world  # optional realism

        rgb = render(sample_world(rng, config.width, config.height), rng).image
    except (ImportError, TypeError):
        rgb = rng.integers(0, 255, (config.height, config.width, 3), dtype=np.uint8)
    data = np.ascontiguousarray(rgb, dtype=np.uint8).tobytes()
    return Image(header=Header(frame_id="bench_camera"), height=config.height, width=config.width,
                 encoding="rgb8", is_bigendian=0, step=config.width * 3, data=array.array("B", data))


def _wait(condition: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise EdgeAiError(f"benchmark: {what} within {timeout_s:.0f} s", fix="see the node log")
        time.sleep(0.05)


def _settle(condition: Callable[[], bool], timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.02)
    return bool(condition())


def _paced(client: _Client, ns: str, msg: Image, count: int, hz: float, offset: int) -> None:
    period = 1.0 / hz
    start = time.perf_counter()
    for i in range(count):
        delay = start + i * period - time.perf_counter()
        if delay > 0:
            time.sleep(delay)  # pacing a 30 Hz camera, not waiting on a result
        client.publish_frame(ns, msg, offset + i)


def _proc_status(pid: int) -> tuple[float, bool]:
    rss_kb = 0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            rss_kb = int(line.split()[1])
    maps = Path(f"/proc/{pid}/maps").read_text()
    return rss_kb / 1024.0, "libtorch" in maps


def _measure(client: _Client, ns: str, msg: Image, config: BenchConfig, frames: int) -> None:
    """Warm up, forget the warm-up, send ``frames`` paced frames to ``ns`` and wait for stragglers."""
    _paced(client, ns, msg, config.warmup_frames, config.hz, 0)
    _settle(lambda: client.answered(ns), 2.0)
    client.clear(ns)
    _paced(client, ns, msg, frames, config.hz, config.warmup_frames)
    _settle(lambda: client.answered(ns), 2.0)  # stragglers may be lost


def _baseline(client: _Client, msg: Image, config: BenchConfig, kind: str) -> dict[str, list[float]]:
    """Phase 1: the bare echo (started and stopped here) on its own topic; per-frame rows."""
    log = config.log_path.with_name(config.log_path.name + ".echo") if config.log_path else None
    proc = start_node(NodeLaunch(module=ECHO_MODULE, namespace=ECHO_NAMESPACE, log_path=log,
                                 parameters={"frame_executor": kind}))
    try:
        _wait(lambda: client.pubs[ECHO_NAMESPACE].get_subscription_count() > 0, config.startup_timeout_s,
              "the echo did not subscribe")
        _measure(client, ECHO_NAMESPACE, msg, config, config.baseline_frames)
        with client.lock:
            return baseline_rows(client.sent, client.logs[ECHO_NAMESPACE])
    finally:
        stop_node(proc)


def run_benchmark(config: BenchConfig) -> tuple[BenchResult, dict[str, list[float]]]:
    """Run both phases; return the summary and the per-frame ms of every row."""
    apply_ros_env_defaults()
    load_before = os.getloadavg()
    params: dict[str, object] = {"backend": config.backend, "diagnostics_period_s": 0.5,
                                 "publish_frame_timings": True, **config.node_parameters}
    if config.manifest:
        params["model_manifest"] = config.manifest
    context = rclpy.Context()
    rclpy.init(context=context, domain_id=int(os.environ.get("ROS_DOMAIN_ID", "0")))
    client = _Client(context)
    kind = str(params.get("frame_executor", "events"))
    spinner = SpinThread(client, kind=kind, name="bench_client")
    proc = start_node(NodeLaunch(parameters=params, namespace=NAMESPACE, log_path=config.log_path))
    try:
        _wait(lambda: client.status.get("state") == "active" and client.pubs[NAMESPACE].get_subscription_count() > 0,
              config.startup_timeout_s, "the node did not become active")
        msg = _frame(config)
        rows = _baseline(client, msg, config, kind) if config.baseline_frames > 0 else {}
        _paced(client, NAMESPACE, msg, config.warmup_frames, config.hz, 0)
        _settle(lambda: client.answered(NAMESPACE), 2.0)
        rss_mb, torch_loaded = _proc_status(proc.pid)
        before = client.clear(NAMESPACE)
        _paced(client, NAMESPACE, msg, config.frames, config.hz, config.warmup_frames)
        _settle(lambda: client.answered(NAMESPACE), 2.0)  # stragglers may be lost
        seen = client.status_count
        _wait(lambda: client.status_count >= seen + 2, 5.0, "no diagnostics after the run")
        with client.lock:
            rows.update(node_rows(client.sent, client.logs[NAMESPACE]))
            result = _result(client, before, rows, rss_mb, torch_loaded, load_before, params)
        return result, rows
    finally:
        spinner.stop()
        client.destroy_node()
        rclpy.try_shutdown(context=context)
        stop_node(proc)


def _result(client: _Client, before: dict[str, str], rows: dict[str, list[float]], rss_mb: float,
            torch_loaded: bool, load_before: tuple[float, float, float], params: dict[str, object]) -> BenchResult:
    status, log = client.status, client.logs[NAMESPACE]
    sent = len(client.sent)
    answered = sum(1 for stamp in log.received if stamp in client.sent)
    return BenchResult(
        frames_sent=sent, frames_answered=answered, frames_timed=len(rows["end_to_end"]),
        frames_received_by_node=int(status["frames_in"]) - int(before.get("frames_in", 0)),
        frames_dropped_by_node=int(status["frames_dropped"]) - int(before.get("frames_dropped", 0)),
        answered_fraction=answered / max(1, sent), baseline_answered=len(rows.get("baseline_transport_in", [])),
        latency_ms=spreads(rows), rss_mb=rss_mb, torch_loaded=torch_loaded, model_id=status.get("model_id", ""),
        backend=status.get("backend", ""), load_before=load_before, load_after=os.getloadavg(),
        node_parameters=params,
    )
