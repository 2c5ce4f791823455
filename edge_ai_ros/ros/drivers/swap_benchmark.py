"""Benchmark hot swaps: 30 Hz camera frames from this process, the node in its own, N swaps A <-> B.

Counts frames that went unanswered while a swap was in progress (its request to its answer,
plus two frame periods), the longest gap between answers seen here during those windows
(transport included) and as the node measured it, swap durations, every place the answers'
model_id changed (must be exactly once per swap), and the node's resident memory and thread
count (from /proc/<pid>/status) before and after the swaps.
"""

from __future__ import annotations

import array
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import rclpy
from rclpy.context import Context
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from sensor_msgs.msg import Image
from std_msgs.msg import Header

from edge_ai_ros.benchmarks.swap_report import SwapBenchResult
from edge_ai_ros.errors import EdgeAiError
from edge_ai_ros.msg import DetectionArray
from edge_ai_ros.ros.conversions import stamp_ns
from edge_ai_ros.ros.drivers.node_process import NodeLaunch, start_node, stop_node
from edge_ai_ros.ros.environment import apply_ros_env_defaults
from edge_ai_ros.ros.qos import image_qos, output_qos
from edge_ai_ros.srv import SwapModel
from edge_ai_ros.stats import summarize

NAMESPACE = "/bench_swap"
NODE = f"{NAMESPACE}/inference_node"


@dataclass(frozen=True, kw_only=True)
class SwapBenchConfig:
    model_a: str
    model_b: str
    backend: str = "auto"
    swaps: int = 20
    hz: float = 30.0
    width: int = 640
    height: int = 480
    between_swaps_s: float = 1.0  # frames served by each model before the next swap
    startup_timeout_s: float = 60.0
    log_path: Path | None = None


class _Client(Node):
    def __init__(self, context: Any, config: SwapBenchConfig) -> None:
        super().__init__("bench_swap_client", context=context)
        self.pub = self.create_publisher(Image, f"{NAMESPACE}/image", image_qos(depth=5, reliability="best_effort"))
        self.swap_client = self.create_client(SwapModel, f"{NODE}/swap_model")
        self.sent: dict[int, float] = {}  # stamp -> monotonic send time
        self.answers: list[tuple[int, str, float]] = []  # stamp, model_id, monotonic receive time
        self._lock = threading.Lock()
        self.create_subscription(DetectionArray, f"{NAMESPACE}/detections", self._on_answer, output_qos(depth=50))
        self._frame = _frame(config.width, config.height)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._stream, args=(config.hz,), daemon=True)

    def _on_answer(self, msg: DetectionArray) -> None:
        with self._lock:
            self.answers.append((stamp_ns(msg.header.stamp), msg.model_id,
                                 time.monotonic()))

    def start_stream(self) -> None:
        self._thread.start()

    def stop_stream(self) -> None:
        self._stop.set()
        self._thread.join(5.0)

    def _stream(self, hz: float) -> None:
        next_t, index = time.monotonic(), 0
        while not self._stop.is_set():
            stamp = time.time_ns() // 1000 * 1000 + index % 1000
            self._frame.header.stamp.sec, self._frame.header.stamp.nanosec = divmod(stamp, 1_000_000_000)
            with self._lock:
                self.sent[stamp] = time.monotonic()
            self.pub.publish(self._frame)
            index += 1
            next_t += 1.0 / hz
            self._stop.wait(max(0.0, next_t - time.monotonic()))  # paces the camera

    def swap(self, manifest: str, timeout_s: float) -> tuple[Any, float, float]:
        done = threading.Event()
        start = time.monotonic()
        future = self.swap_client.call_async(SwapModel.Request(manifest_path=manifest))
        future.add_done_callback(lambda _f: done.set())
        if not done.wait(timeout_s):
            raise EdgeAiError(f"benchmark: swap to {manifest} not answered in {timeout_s:.0f} s", fix="see the node log")
        return future.result(), start, time.monotonic()


def _frame(width: int, height: int) -> Image:
    rgb = np.random.default_rng(0).integers(0, 255, (height, width, 3), dtype=np.uint8)
    return Image(header=Header(frame_id="bench_camera"), height=height, width=width, encoding="rgb8",
                 is_bigendian=0, step=width * 3, data=array.array("B", rgb.tobytes()))


def proc_status(pid: int) -> tuple[float, int]:
    """(resident MiB, threads) of a process, from /proc/<pid>/status."""
    values = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    return int(values["VmRSS"].split()[0]) / 1024.0, int(values["Threads"])


def _wait(condition: Any, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise EdgeAiError(f"benchmark: {what} within {timeout_s:.0f} s", fix="see the node log")
        time.sleep(0.05)


def run_swap_benchmark(config: SwapBenchConfig) -> SwapBenchResult:
    apply_ros_env_defaults()
    params = {"backend": config.backend, "model_manifest": config.model_a, "swap_output_wait_s": 1.0}
    proc = start_node(NodeLaunch(parameters=params, namespace=NAMESPACE, log_path=config.log_path))
    context = Context()
    rclpy.init(context=context, domain_id=int(os.environ.get("ROS_DOMAIN_ID", "0")))
    client = _Client(context, config)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(client)
    spinner = threading.Thread(target=executor.spin, daemon=True)
    spinner.start()
    try:
        _wait(lambda: client.swap_client.service_is_ready() and client.pub.get_subscription_count() > 0,
              config.startup_timeout_s, "the node did not come up")
        client.start_stream()
        _wait(lambda: len(client.answers) >= 15, config.startup_timeout_s, "no answers from the node")
        return _swaps(client, proc.pid, config)
    finally:
        client.stop_stream()
        executor.shutdown()
        spinner.join(5.0)
        client.destroy_node()
        context.try_shutdown()
        stop_node(proc)


def _swaps(client: _Client, pid: int, config: SwapBenchConfig) -> SwapBenchResult:
    rss0, threads0 = proc_status(pid)
    rss_round_trip = rss0
    windows: list[tuple[float, float]] = []
    outcomes: list[Any] = []
    answer_s: list[float] = []
    for i in range(config.swaps):
        response, start, end = client.swap(config.model_b if i % 2 == 0 else config.model_a, 60.0)
        outcomes.append(response)
        windows.append((start, end + 2.0 / config.hz))
        answer_s.append(end - start)
        time.sleep(config.between_swaps_s)  # let the model serve a while before the next swap
        if i == 1:
            rss_round_trip = proc_status(pid)[0]
    time.sleep(0.5)  # answers of the last frames in flight
    client.stop_stream()
    rss1, threads1 = proc_status(pid)
    return _result(client, config, windows, outcomes, answer_s, (rss0, rss_round_trip, rss1), (threads0, threads1))


def _result(client: _Client, config: SwapBenchConfig, windows: list[tuple[float, float]], outcomes: list[Any],
            answer_s: list[float], rss: tuple[float, float, float], threads: tuple[int, int]) -> SwapBenchResult:
    first, last = windows[0][0], windows[-1][1]
    with client._lock:
        sent = {s: t for s, t in client.sent.items() if first - 1.0 <= t <= last}
        answers = sorted(a for a in client.answers if a[0] in sent)
    answered = {a[0] for a in answers}
    in_window = {s for s, t in sent.items() if any(a <= t <= b for a, b in windows)}
    received = sorted(a[2] for a in answers)
    gaps = [b - a for a, b in zip(received, received[1:], strict=False) if any(w0 <= b and a <= w1 for w0, w1 in windows)]
    ids = [a[1] for a in answers]
    return SwapBenchResult(
        swaps_ok=sum(o.success for o in outcomes), swaps_requested=len(outcomes), frames_sent=len(sent),
        frames_answered=len(answered), frames_sent_during_swaps=len(in_window),
        frames_dropped_during_swaps=len(in_window - answered),
        frames_unanswered_outside_swaps=len(set(sent) - in_window - answered),
        max_gap_ms_client=max(gaps, default=0.0) * 1e3,
        max_gap_ms_node=max((o.max_output_gap_s for o in outcomes if o.success), default=0.0) * 1e3,
        frame_period_ms=1e3 / config.hz,
        swap_ms=summarize((o.swap_duration_s for o in outcomes if o.success), scale=1e3),
        answer_ms=summarize(answer_s, scale=1e3),
        model_id_changes=sum(1 for a, b in zip(ids, ids[1:], strict=False) if a != b),
        rss_mb=rss, threads=threads,
        model_ids=(outcomes[0].previous_model_id, outcomes[0].new_model_id),
        failures=[o.message for o in outcomes if not o.success],
    )
