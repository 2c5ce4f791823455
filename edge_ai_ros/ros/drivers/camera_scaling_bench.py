"""Multi-camera scaling benchmark: one batched node for N cameras against N single-camera node processes.

Per camera count N and mode, in one run (the modes alternate which goes first from one N to
the next, so a change of the shared machine's load hits both):
- ``batched``: one inference node with ``cameras: [cam0 .. camN-1]``, subscribing
  ``/camK/image_raw`` and publishing ``/camK/detections``;
- ``single``: N inference node processes, each in namespace ``/camK`` with ``image``
  remapped to ``image_raw``: today's deployment, one node per camera.
Frames come from one player process (ros/drivers/camera_player.py) publishing every camera's
topic; answers are received here and matched to frames by header stamp. Each case runs the
peak-throughput search and the fixed-rate runs of benchmarks/camera_scaling.py and reads the
node processes' CPU time and memory from /proc. Whether the node supports ``cameras`` is asked
of the running node (its declared parameters); where it does not, the batched case is skipped
with that reason.
"""

from __future__ import annotations

import os
import subprocess
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from rcl_interfaces.srv import ListParameters
from rclpy.node import Node

from edge_ai_ros.benchmarks.camera_scaling import (
    CameraRun,
    RunSummary,
    SearchSettings,
    cpu_ms_per_frame,
    peak_search,
    proc_usage,
    summarize_run,
)
from edge_ai_ros.benchmarks.camera_scaling_report import MODES, CaseResult, FixedRun
from edge_ai_ros.errors import ConfigError, EdgeAiError
from edge_ai_ros.msg import DetectionArray
from edge_ai_ros.ros.conversions import stamp_ns
from edge_ai_ros.ros.drivers.camera_player_process import PlayerProcess
from edge_ai_ros.ros.drivers.node_process import NodeLaunch, start_node, stop_node
from edge_ai_ros.ros.environment import apply_ros_env_defaults
from edge_ai_ros.ros.qos import output_qos
from edge_ai_ros.ros.spin_thread import SpinThread

BATCHED_NODE = "/inference_node"
CAMERAS_PARAMETER = "cameras"
_POLL_S = 0.02
_ASK_AGAIN_S = 3.0  # seconds before a list_parameters request is sent again
_DIAGNOSTICS_PERIOD_S = 0.5
_DIAGNOSTICS_WAIT_S = 3.0


@dataclass(frozen=True, kw_only=True)
class ScalingConfig:
    cameras: tuple[int, ...] = (1, 2, 4, 8)
    modes: tuple[str, ...] = MODES
    fixed_rates_hz: tuple[float, ...] = (10.0, 30.0, 60.0)
    fixed_s: float = 5.0  # each fixed-rate run
    trial_s: float = 2.0  # each peak-search trial
    search: SearchSettings | None = field(default_factory=SearchSettings)  # None: no peak search
    warmup_s: float = 1.0
    grace_s: float = 1.0  # after a run, wait up to this long for the last answers
    width: int = 640
    height: int = 480
    manifest: str = ""  # "" = the shipped demo detector
    backend: str = "auto"
    node_parameters: Mapping[str, object] = field(default_factory=dict)  # every node of both modes
    batched_parameters: Mapping[str, object] = field(default_factory=dict)  # the batched node only
    startup_timeout_s: float = 180.0
    log_dir: Path | None = None

    def __post_init__(self) -> None:
        if not self.cameras or min(self.cameras) < 1:
            raise ConfigError("cameras", f"{self.cameras} must be camera counts >= 1", fix="e.g. --cameras 1,2,4,8")
        unknown = set(self.modes) - set(MODES)
        if unknown or not self.modes:
            raise ConfigError("modes", f"{sorted(unknown) or 'none'} given", fix=f"choose from {MODES}")
        if min(self.fixed_s, self.trial_s, self.warmup_s) <= 0 or any(r <= 0 for r in self.fixed_rates_hz):
            raise ConfigError("durations", "run lengths and rates must be > 0", fix="use positive values")


def camera_names(count: int) -> list[str]:
    return [f"cam{k}" for k in range(count)]


class _Client(Node):
    """Records when each camera's detections arrive (CLOCK_REALTIME ns, like the player's stamps)."""

    def __init__(self, context: rclpy.Context, cameras: int) -> None:
        super().__init__("camera_scaling_client", context=context)
        self.lock = threading.Lock()
        self.answers: dict[str, dict[int, int]] = {name: {} for name in camera_names(cameras)}
        self.status: dict[str, tuple[float, dict[str, str]]] = {}  # status name -> (monotonic s, values)
        for name in self.answers:
            self.create_subscription(DetectionArray, f"/{name}/detections", self._keep(name), output_qos(50))
        self.create_subscription(DiagnosticArray, "/diagnostics", self._on_diagnostics, 50)

    def _on_diagnostics(self, msg: DiagnosticArray) -> None:
        now = time.monotonic()
        with self.lock:
            for status in msg.status:
                self.status[status.name] = (now, {kv.key: kv.value for kv in status.values})

    def node_counts(self, nodes: list[str], timeout_s: float) -> dict[str, int]:
        """Integer /diagnostics values of ``nodes`` (fully qualified names), summed over the nodes, once every
        node has published after now: ``frames_dropped``, ``/cameras:cam0.dropped_too_old``, ..."""
        since = time.monotonic()

        def fresh() -> bool:
            with self.lock:
                return all(self.status.get(node, (0.0, {}))[0] > since for node in nodes)

        _poll(fresh, timeout_s)
        out: dict[str, int] = {}
        with self.lock:
            for name, (_, values) in self.status.items():
                node = next((n for n in nodes if name == n or name.startswith(n + "/")), None)
                if node is None:
                    continue
                prefix = name[len(node):] + ":" if name != node else ""
                for key, value in values.items():
                    if value.lstrip("-").isdigit():
                        out[prefix + key] = out.get(prefix + key, 0) + int(value)
        return out

    def _keep(self, name: str) -> Callable[[DetectionArray], None]:
        def keep(msg: DetectionArray) -> None:
            now = time.time_ns()
            stamp = stamp_ns(msg.header.stamp)
            with self.lock:
                self.answers[name].setdefault(stamp, now)

        return keep

    def take(self) -> dict[str, dict[int, int]]:
        with self.lock:
            out = {name: dict(a) for name, a in self.answers.items()}
            for a in self.answers.values():
                a.clear()
            return out

    def count(self, stamps: Mapping[str, list[int]]) -> int:
        with self.lock:
            return sum(1 for name, sent in stamps.items() for s in sent if s in self.answers[name])

    def declared_parameters(self, node: str, timeout_s: float) -> list[str] | None:
        """Names the running ``node`` declares (its list_parameters service); None if it never answered."""
        client = self.create_client(ListParameters, f"{node}/list_parameters")
        deadline = time.monotonic() + timeout_s
        try:
            if not client.wait_for_service(timeout_sec=timeout_s):
                return None
            # Asked again every few seconds: a service can answer before its reply writer has matched
            # this client's reader, and Fast DDS then drops the reply ("failed to send response").
            while (left := deadline - time.monotonic()) > 0:
                future = client.call_async(ListParameters.Request())
                if _poll(future.done, min(left, _ASK_AGAIN_S)) and future.result() is not None:
                    return list(future.result().result.names)
                client.remove_pending_request(future)
            return None
        finally:
            self.destroy_client(client)


def _poll(condition: Callable[[], bool], timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(_POLL_S)
    return True


def _node_launches(mode: str, count: int, config: ScalingConfig) -> list[NodeLaunch]:
    base: dict[str, object] = {"backend": config.backend, "diagnostics_period_s": _DIAGNOSTICS_PERIOD_S,
                               **config.node_parameters}
    if config.manifest:
        base["model_manifest"] = config.manifest
    log = config.log_dir
    if mode == "batched":
        params = {**base, CAMERAS_PARAMETER: camera_names(count), **config.batched_parameters}
        return [NodeLaunch(parameters=params, log_path=log / f"batched_{count}.log" if log else None)]
    return [NodeLaunch(parameters=base, namespace=f"/{name}",
                       remaps={"image": "image_raw", "image/compressed": "image_raw/compressed"},
                       log_path=log / f"single_{count}_{name}.log" if log else None) for name in camera_names(count)]


class _Case:
    """One (N, mode): the node processes, the player and the runs against them."""

    def __init__(self, client: _Client, mode: str, count: int, config: ScalingConfig) -> None:
        self.client, self.mode, self.count, self.config = client, mode, count, config
        self.names = camera_names(count)
        self.procs: list[subprocess.Popen[bytes]] = []

    def run(self) -> CaseResult:
        load_before = os.getloadavg()
        if self.config.log_dir:
            self.config.log_dir.mkdir(parents=True, exist_ok=True)
        self.procs = [start_node(launch) for launch in _node_launches(self.mode, self.count, self.config)]
        try:
            reason = self._unsupported() if self.mode == "batched" else ""
            if reason:
                return self._result(None, (), load_before, skipped=reason)
            with PlayerProcess([f"/{n}/image_raw" for n in self.names], self.config.width, self.config.height,
                               log_path=self.config.log_dir / f"player_{self.mode}_{self.count}.log"
                               if self.config.log_dir else None) as player:
                self._ready(player)
                return self._measure(player, load_before)
        finally:
            for proc in self.procs:
                stop_node(proc)

    def _unsupported(self) -> str:
        names = self.client.declared_parameters(BATCHED_NODE, self.config.startup_timeout_s)
        if names is None:
            raise EdgeAiError(f"the inference node did not list its parameters within "
                              f"{self.config.startup_timeout_s:.0f} s", fix="see the node log (--log-dir)")
        if CAMERAS_PARAMETER not in names:
            return f"the inference node declares no '{CAMERAS_PARAMETER}' parameter (no multi-camera serving)"
        return ""

    def _check_alive(self) -> None:
        dead = [p for p in self.procs if p.poll() is not None]
        if dead:
            raise EdgeAiError(f"a {self.mode} node process for {self.count} cameras exited with code "
                              f"{dead[0].returncode}", fix="see the node log (--log-dir)")

    def _ready(self, player: PlayerProcess) -> None:
        def alive_and_ready() -> bool:
            self._check_alive()
            return player.poll_ready()

        if not _poll(alive_and_ready, self.config.startup_timeout_s):
            raise EdgeAiError(f"{self.mode} nodes for {self.count} cameras did not subscribe within "
                              f"{self.config.startup_timeout_s:.0f} s", fix="see the node log (--log-dir)")
        self.play(player, 10.0, self.config.warmup_s)  # first inferences are slow; not measured

    def play(self, player: PlayerProcess, hz: float, duration_s: float) -> RunSummary:
        self.client.take()
        reply = player.play(hz, duration_s)
        sent = {name: reply["sent"][f"/{name}/image_raw"] for name in self.names}
        total = sum(len(s) for s in sent.values())
        _poll(lambda: self.client.count(sent) >= total, self.config.grace_s)  # stragglers; the rest are dropped
        return summarize_run(CameraRun(rate_hz=hz, duration_s=float(reply["elapsed_s"]), sent=sent,
                                       answers=self.client.take()))

    def _measure(self, player: PlayerProcess, load_before: tuple[float, float, float]) -> CaseResult:
        search = self.config.search
        peak = peak_search(lambda hz: self.play(player, hz, self.config.trial_s), search) if search else None
        fixed = tuple(self._fixed(player, rate) for rate in self.config.fixed_rates_hz)
        return self._result(peak, fixed, load_before)

    def _fixed(self, player: PlayerProcess, rate: float) -> FixedRun:
        self._check_alive()
        pids, nodes = [p.pid for p in self.procs], self.node_names()
        counts = self.client.node_counts(nodes, _DIAGNOSTICS_WAIT_S)
        load, before = os.getloadavg(), proc_usage(pids)
        summary = self.play(player, rate, self.config.fixed_s)
        self._check_alive()
        usage, load_after = proc_usage(pids), os.getloadavg()
        after = self.client.node_counts(nodes, _DIAGNOSTICS_WAIT_S)
        return FixedRun(summary=summary, cpu_ms_per_frame=cpu_ms_per_frame(before, usage, summary.answered),
                        load_before=load, load_after=load_after,
                        node_counts={k: after[k] - counts[k] for k in after if k in counts and after[k] != counts[k]})

    def node_names(self) -> list[str]:
        return [BATCHED_NODE] if self.mode == "batched" else [f"/{name}/inference_node" for name in self.names]

    def _result(self, peak: Any, fixed: tuple[FixedRun, ...], load_before: tuple[float, float, float], *,
                skipped: str = "") -> CaseResult:
        usage = proc_usage(p.pid for p in self.procs if p.poll() is None)
        return CaseResult(cameras=self.count, mode=self.mode, processes=len(self.procs), peak=peak, fixed=fixed,
                          peak_rss_mb=usage.peak_rss_mb, end_rss_mb=usage.rss_mb, end_pss_mb=usage.pss_mb,
                          load_before=load_before,
                          load_after=os.getloadavg(), skipped=skipped)


def case_order(config: ScalingConfig) -> list[tuple[int, str]]:
    """(N, mode) in run order: every N runs both modes back to back, the first mode alternating."""
    out = []
    for i, count in enumerate(config.cameras):
        modes = config.modes if i % 2 == 0 else tuple(reversed(config.modes))
        out += [(count, mode) for mode in modes]
    return out


def run_scaling(config: ScalingConfig, on_case: Callable[[CaseResult], None] | None = None) -> list[CaseResult]:
    """Every case of ``config`` in :func:`case_order`; a batched case the node cannot serve is skipped once known."""
    apply_ros_env_defaults()
    context = rclpy.Context()
    rclpy.init(context=context, domain_id=int(os.environ.get("ROS_DOMAIN_ID", "0")))
    client = _Client(context, max(config.cameras))
    spinner = SpinThread(client, kind="single", name="camera_scaling_client")
    results: list[CaseResult] = []
    try:
        for count, mode in case_order(config):
            known = next((r.skipped for r in results if r.mode == mode and r.skipped), "")
            result = _not_run(count, mode, skipped=known) if known else _run_case(client, mode, count, config)
            results.append(result)
            if on_case is not None:
                on_case(result)
    finally:
        spinner.stop()
        client.destroy_node()
        rclpy.try_shutdown(context=context)
    return results


def _not_run(count: int, mode: str, *, skipped: str = "", error: str = "") -> CaseResult:
    load = os.getloadavg()
    return CaseResult(cameras=count, mode=mode, processes=0, peak=None, fixed=(), peak_rss_mb=0.0, end_rss_mb=0.0,
                      load_before=load, load_after=load, skipped=skipped, error=error)


def _run_case(client: _Client, mode: str, count: int, config: ScalingConfig) -> CaseResult:
    """One case; a node or player that fails becomes the case's error and the run goes on."""
    try:
        return _Case(client, mode, count, config).run()
    except EdgeAiError as err:
        return _not_run(count, mode, error=str(err))


def config_dict(config: ScalingConfig) -> dict[str, Any]:
    data = asdict(config)
    data["log_dir"] = str(config.log_dir) if config.log_dir else None
    data["node_parameters"] = dict(config.node_parameters)
    data["batched_parameters"] = dict(config.batched_parameters)
    return data
