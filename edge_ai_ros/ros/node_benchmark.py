"""Benchmark the inference node as deployed: 640x480 rgb8 frames at 30 Hz from another process.

The node runs in its own process (node_process); this process publishes frames on a paced
thread and receives the detections. End-to-end = publish -> detections received (matched by
header stamp). Engine and stage times come from the node's /diagnostics (its rolling window
covers the measured frames). Node overhead = end-to-end - engine, per percentile. Resident
memory is read from /proc/<pid>/status of the node after warm-up, and /proc/<pid>/maps tells
whether torch was loaded (it must not be on the serving path).
"""

from __future__ import annotations

import array
import json
import os
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from sensor_msgs.msg import Image
from std_msgs.msg import Header

from edge_ai_ros.atomic_io import atomic_write_text
from edge_ai_ros.errors import EdgeAiError
from edge_ai_ros.msg import DetectionArray
from edge_ai_ros.ros.environment import apply_ros_env_defaults
from edge_ai_ros.ros.node_process import NodeLaunch, start_node, stop_node
from edge_ai_ros.ros.qos import image_qos, output_qos

NAMESPACE = "/bench_node"


@dataclass(frozen=True, kw_only=True)
class BenchConfig:
    manifest: str = ""  # "" = the shipped demo detector
    backend: str = "auto"
    frames: int = 300
    warmup_frames: int = 30
    hz: float = 30.0
    width: int = 640
    height: int = 480
    startup_timeout_s: float = 60.0
    log_path: Path | None = None


@dataclass(frozen=True, kw_only=True)
class BenchResult:
    frames_sent: int
    frames_answered: int
    frames_dropped_by_node: int
    frames_received_by_node: int
    answered_fraction: float
    end_to_end_ms: tuple[float, float]  # p50, p99
    engine_ms: tuple[float, float]
    preprocess_ms: tuple[float, float]
    postprocess_ms: tuple[float, float]
    node_overhead_ms: tuple[float, float]  # end_to_end - engine, per percentile
    in_node_ms: tuple[float, float]  # subscription callback -> published, measured in the node
    rss_mb: float
    torch_loaded: bool
    model_id: str
    backend: str


class _Client(Node):
    def __init__(self, context: Any) -> None:
        super().__init__("bench_node_client", context=context)
        self.pub = self.create_publisher(Image, f"{NAMESPACE}/image", image_qos(depth=5, reliability="best_effort"))
        self.sent: dict[int, int] = {}
        self.latency_ms: dict[int, float] = {}
        self.status: dict[str, str] = {}
        self.status_count = 0
        self._lock = threading.Lock()
        self.create_subscription(DetectionArray, f"{NAMESPACE}/detections", self._on_detections, output_qos())
        self.create_subscription(DiagnosticArray, "/diagnostics", self._on_diagnostics, 10)

    def _on_detections(self, msg: DetectionArray) -> None:
        now = time.perf_counter_ns()
        stamp = msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec
        with self._lock:
            if stamp in self.sent:
                self.latency_ms[stamp] = (now - self.sent[stamp]) / 1e6

    def _on_diagnostics(self, msg: DiagnosticArray) -> None:
        for status in msg.status:
            if status.name == f"{NAMESPACE}/inference_node":
                with self._lock:
                    self.status = {kv.key: kv.value for kv in status.values}
                    self.status_count += 1

    def publish_frame(self, msg: Image, index: int) -> None:
        stamp = time.time_ns() // 1000 * 1000 + index % 1000
        msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(stamp, 1_000_000_000)
        with self._lock:
            self.sent[stamp] = time.perf_counter_ns()
        self.pub.publish(msg)


def _frame(config: BenchConfig) -> Image:
    rng = np.random.default_rng(0)
    try:
        from edge_ai_ros.demo.scene import render, sample_world  # noqa: PLC0415 - optional realism

        rgb = render(sample_world(rng, config.width, config.height), rng).image
    except (ImportError, TypeError):
        rgb = rng.integers(0, 255, (config.height, config.width, 3), dtype=np.uint8)
    data = np.ascontiguousarray(rgb, dtype=np.uint8).tobytes()
    return Image(header=Header(frame_id="bench_camera"), height=config.height, width=config.width,
                 encoding="rgb8", is_bigendian=0, step=config.width * 3, data=array.array("B", data))


def _wait(condition: Any, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise EdgeAiError(f"benchmark: {what} within {timeout_s:.0f} s", fix="see the node log")
        time.sleep(0.05)


def _settle(condition: Any, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.02)
    return bool(condition())


def _paced(client: _Client, msg: Image, count: int, hz: float, offset: int) -> None:
    period = 1.0 / hz
    start = time.perf_counter()
    for i in range(count):
        delay = start + i * period - time.perf_counter()
        if delay > 0:
            time.sleep(delay)  # pacing a 30 Hz camera, not waiting on a result
        client.publish_frame(msg, offset + i)


def _proc_status(pid: int) -> tuple[float, bool]:
    rss_kb = 0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            rss_kb = int(line.split()[1])
    maps = Path(f"/proc/{pid}/maps").read_text()
    return rss_kb / 1024.0, "libtorch" in maps


def run_benchmark(config: BenchConfig) -> BenchResult:
    apply_ros_env_defaults()
    params: dict[str, object] = {"backend": config.backend, "diagnostics_period_s": 0.5}
    if config.manifest:
        params["model_manifest"] = config.manifest
    proc = start_node(NodeLaunch(parameters=params, namespace=NAMESPACE, log_path=config.log_path))
    context = rclpy.Context()
    rclpy.init(context=context, domain_id=int(os.environ.get("ROS_DOMAIN_ID", "0")))
    client = _Client(context)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(client)
    spinner = threading.Thread(target=executor.spin, daemon=True)
    spinner.start()
    try:
        _wait(lambda: client.status.get("state") == "active" and client.pub.get_subscription_count() > 0,
              config.startup_timeout_s, "the node did not become active")
        msg = _frame(config)
        _paced(client, msg, config.warmup_frames, config.hz, 0)
        rss_mb, torch_loaded = _proc_status(proc.pid)
        with client._lock:
            client.sent.clear()
            client.latency_ms.clear()
        before = dict(client.status)
        _paced(client, msg, config.frames, config.hz, config.warmup_frames)
        _settle(lambda: len(client.latency_ms) >= len(client.sent), 2.0)  # stragglers may be lost
        seen = client.status_count
        _wait(lambda: client.status_count >= seen + 2, 5.0, "no diagnostics after the run")
        return _result(client, before, rss_mb, torch_loaded)
    finally:
        executor.shutdown()
        spinner.join(5.0)
        client.destroy_node()
        rclpy.try_shutdown(context=context)
        stop_node(proc)


def _pair(status: dict[str, str], key: str) -> tuple[float, float]:
    return float(status.get(f"{key}_ms_p50", "nan")), float(status.get(f"{key}_ms_p99", "nan"))


def _result(client: _Client, before: dict[str, str], rss_mb: float, torch_loaded: bool) -> BenchResult:
    status = client.status
    latencies = np.asarray(list(client.latency_ms.values()), dtype=np.float64)
    e2e = (float(np.percentile(latencies, 50)), float(np.percentile(latencies, 99))) if latencies.size else (
        float("nan"), float("nan"))
    engine = _pair(status, "inference")
    sent = len(client.sent)
    return BenchResult(
        frames_sent=sent, frames_answered=int(latencies.size),
        frames_dropped_by_node=int(status["frames_dropped"]) - int(before.get("frames_dropped", 0)),
        frames_received_by_node=int(status["frames_in"]) - int(before.get("frames_in", 0)),
        answered_fraction=latencies.size / max(1, sent), end_to_end_ms=e2e, engine_ms=engine,
        preprocess_ms=_pair(status, "preprocess"), postprocess_ms=_pair(status, "postprocess"),
        node_overhead_ms=(e2e[0] - engine[0], e2e[1] - engine[1]), in_node_ms=_pair(status, "node_total"),
        rss_mb=rss_mb, torch_loaded=torch_loaded, model_id=status.get("model_id", ""),
        backend=status.get("backend", ""),
    )


def format_table(result: BenchResult) -> str:
    rows = [
        ("model / backend", f"{result.model_id} / {result.backend}"),
        ("frames sent / answered", f"{result.frames_sent} / {result.frames_answered} "
                                   f"({100 * result.answered_fraction:.1f}%)"),
        ("frames received / dropped by node", f"{result.frames_received_by_node} / {result.frames_dropped_by_node}"),
    ]
    for name, (p50, p99) in (("engine (inference)", result.engine_ms), ("preprocess", result.preprocess_ms),
                             ("postprocess", result.postprocess_ms), ("in node (callback -> publish)", result.in_node_ms),
                             ("end-to-end", result.end_to_end_ms),
                             ("node overhead (e2e - engine)", result.node_overhead_ms)):
        rows.append((f"{name} ms p50 / p99", f"{p50:.2f} / {p99:.2f}"))
    rows += [("node RSS after warm-up", f"{result.rss_mb:.0f} MB"), ("torch loaded in node", str(result.torch_loaded))]
    width = max(len(r[0]) for r in rows)
    return "\n".join(f"{k:<{width}}  {v}" for k, v in rows)


def write_json(result: BenchResult, path: Path, config: BenchConfig) -> None:
    data = {"config": {k: str(v) if isinstance(v, Path) else v for k, v in asdict(config).items()},
            "result": asdict(result)}
    atomic_write_text(path, json.dumps(data, indent=2) + "\n")
