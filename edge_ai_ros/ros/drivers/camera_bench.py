"""Benchmark the node against stock camera publishers: answered %, end-to-end, and the node's own counts.

Each case runs ``edge_ai_ros.ros.drivers.stock_camera`` in its own process with the chosen settings
(shipped Fast DDS profile or none, reliable or best effort, 640x480 / 1280x720 / 1920x1080,
raw rgb8 or JPEG). The inference node runs in its own process as deployed (shipped profile).
Node variants (e.g. ``input_qos`` best_effort, the old fixed default, against auto) each get a
node process; the cases alternate between them in one run, so before/after see the same load.

Per case: frames sent (the camera's report), answered (detections received here, matched by
header stamp), end-to-end p50/p99 (receive time minus the stamp, CLOCK_REALTIME on one host),
and the node's counters from /diagnostics taken before and after the case: frames received,
lost (message_lost events and stamp gaps), dropped (stale frames replaced by newer ones),
rejected. ``unaccounted`` = sent - answered - lost - dropped - rejected: frames the node
neither answered nor counted; it should be about zero.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.node import Node

from edge_ai_ros.errors import EdgeAiError
from edge_ai_ros.msg import DetectionArray
from edge_ai_ros.ros.conversions import stamp_ns
from edge_ai_ros.ros.drivers.node_process import NodeLaunch, start_node, stop_node
from edge_ai_ros.ros.drivers.stock_camera import CameraSettings, camera_args
from edge_ai_ros.ros.environment import apply_ros_env_defaults
from edge_ai_ros.ros.middleware import PROFILE_ENV_VARS, default_fastdds_profile
from edge_ai_ros.ros.qos import output_qos
from edge_ai_ros.ros.spin_thread import SpinThread

_SETTLE_S = 2.0
_CAMERA_EXTRA_S = 60.0
SYSCTLS = ("net.core.rmem_max", "net.core.rmem_default", "net.core.wmem_max", "net.core.wmem_default")


@dataclass(frozen=True, kw_only=True)
class CameraCase:
    profile: bool  # the publisher loads the shipped Fast DDS profile
    reliability: str
    size: str = "640x480"
    compressed: bool = False

    @property
    def label(self) -> str:
        return (f"{self.size} {'jpeg' if self.compressed else 'rgb8'} {self.reliability} "
                f"{'profile' if self.profile else 'no profile'}")


@dataclass(frozen=True, kw_only=True)
class CameraBenchConfig:
    cases: tuple[CameraCase, ...]
    variants: Mapping[str, Mapping[str, object]] = field(default_factory=lambda: {"auto": {}})
    frames: int = 300
    hz: float = 30.0
    repeats: int = 1
    manifest: str = ""
    backend: str = "auto"
    log_dir: Path | None = None


class _Client(Node):
    """Records when each node's detections arrive and keeps the latest /diagnostics of each node."""

    def __init__(self, context: rclpy.Context, namespaces: Sequence[str]) -> None:
        super().__init__("camera_bench_client", context=context)
        self.lock = threading.Lock()
        self.answers: dict[str, dict[int, int]] = {ns: {} for ns in namespaces}
        self.status: dict[str, dict[str, str]] = {}
        self.status_count = 0
        for ns in namespaces:
            self.create_subscription(DetectionArray, f"{ns}/detections", self._on_detections(ns), output_qos(50))
        self.create_subscription(DiagnosticArray, "/diagnostics", self._on_diagnostics, 50)

    def _on_detections(self, ns: str) -> Callable[[DetectionArray], None]:
        def keep(msg: DetectionArray) -> None:
            now = time.time_ns()
            stamp = stamp_ns(msg.header.stamp)
            with self.lock:
                self.answers[ns].setdefault(stamp, now)

        return keep

    def _on_diagnostics(self, msg: DiagnosticArray) -> None:
        with self.lock:
            for status in msg.status:
                self.status[status.name] = {kv.key: kv.value for kv in status.values}
            self.status_count += 1

    def counters(self, ns: str) -> dict[str, int]:
        """The node's counters now (after two fresh /diagnostics messages)."""
        seen = self.status_count
        _wait(lambda: self.status_count >= seen + 2, 10.0, "no diagnostics from the node")
        with self.lock:
            serving = self.status.get(f"{ns}/inference_node", {})
            inputs = self.status.get(f"{ns}/inference_node/inputs", {})
        out = {key: int(serving.get(f"frames_{key}", 0)) for key in ("in", "out", "dropped", "rejected")}
        for key in ("received", "lost_reported", "missed_by_stamps"):
            out[key] = sum(int(inputs.get(f"{topic}.{key}", 0)) for topic in ("image", "image/compressed"))
        return out


def _wait(condition: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise EdgeAiError(f"camera benchmark: {what} within {timeout_s:.0f} s", fix="see the node log")
        time.sleep(0.05)


def _camera_env() -> dict[str, str]:
    env = dict(os.environ)
    root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH", "")) if p)
    return env


def _run_case(client: _Client, ns: str, case: CameraCase, config: CameraBenchConfig) -> dict[str, Any]:
    before = client.counters(ns)
    settings = CameraSettings(topic=f"{ns}/image", size=case.size, hz=config.hz, frames=config.frames,
                              reliability=case.reliability, compressed=case.compressed, match_timeout_s=_CAMERA_EXTRA_S,
                              profile=str(default_fastdds_profile()) if case.profile else "none")
    done = subprocess.run(camera_args(settings), env=_camera_env(), capture_output=True, text=True, check=False,
                          timeout=config.frames / config.hz + 2 * _CAMERA_EXTRA_S)
    if done.returncode != 0:  # e.g. no match within the timeout: a row that says so, the run goes on
        return {"case": case.label, **asdict(case), "error": f"publisher exit {done.returncode}: "
                f"{(done.stderr or done.stdout)[-300:]}"}
    sent: list[int] = json.loads(done.stdout.strip().splitlines()[-1])["sent"]
    time.sleep(_SETTLE_S)  # stragglers; the node's counters settle
    after = client.counters(ns)
    with client.lock:
        answers = {stamp: client.answers[ns][stamp] for stamp in sent if stamp in client.answers[ns]}
    return _row(case, sent, answers, {k: after[k] - before[k] for k in after})


def _row(case: CameraCase, sent: list[int], answers: dict[int, int], node: dict[str, int]) -> dict[str, Any]:
    node["lost"] = max(node["lost_reported"], node["missed_by_stamps"])  # two views of the same missing frames
    e2e_ms = np.asarray([(answers[s] - s) / 1e6 for s in answers], dtype=np.float64)
    answered = len(answers)
    return {
        "case": case.label, **asdict(case), "sent": len(sent), "answered": answered,
        "answered_pct": 100.0 * answered / max(1, len(sent)),
        "e2e_ms_p50": float(np.percentile(e2e_ms, 50)) if answered else float("nan"),
        "e2e_ms_p99": float(np.percentile(e2e_ms, 99)) if answered else float("nan"),
        "node_received": node["received"], "node_lost": node["lost"], "node_lost_reported": node["lost_reported"],
        "node_missed_by_stamps": node["missed_by_stamps"], "node_dropped": node["dropped"],
        "node_rejected": node["rejected"],
        "unaccounted": len(sent) - answered - node["lost"] - node["dropped"] - node["rejected"],
    }


def run_camera_bench(config: CameraBenchConfig) -> dict[str, Any]:
    """All cases x repeats, alternating between node variants; rows in run order plus host facts."""
    apply_ros_env_defaults()
    namespaces = {name: f"/bench_cam_{name}" for name in config.variants}
    context = rclpy.Context()
    rclpy.init(context=context, domain_id=int(os.environ.get("ROS_DOMAIN_ID", "0")))
    client = _Client(context, list(namespaces.values()))
    spinner = SpinThread(client, kind="single", name="camera_bench_client")
    procs = [_start(name, ns, config) for name, ns in namespaces.items()]
    facts = host_facts()
    rows = []
    try:
        names = [f"{ns}/inference_node/inputs" for ns in namespaces.values()]
        _wait(lambda: all(name in client.status for name in names), 120.0, "the node did not start")
        for repeat in range(config.repeats):
            for case in config.cases:
                for name, ns in namespaces.items():
                    rows.append({"variant": name, "repeat": repeat, **_run_case(client, ns, case, config)})
                    print(format_rows(rows[-1:]).splitlines()[-1], flush=True)  # progress
    finally:
        spinner.stop()
        client.destroy_node()
        rclpy.try_shutdown(context=context)
        for proc in procs:
            stop_node(proc)
    facts["loadavg_after"] = os.getloadavg()
    return {"host": facts, "config": _config_dict(config), "rows": rows}


def _start(name: str, ns: str, config: CameraBenchConfig) -> Any:
    """One node process; a variant's ``fastdds_profile`` is the node's Fast DDS profile file, not a parameter."""
    params: dict[str, object] = {"backend": config.backend, "diagnostics_period_s": 0.5, **config.variants[name]}
    env = dict(os.environ)
    profile = params.pop("fastdds_profile", None)
    if profile:
        env.update({var: str(profile) for var in PROFILE_ENV_VARS})
    if config.manifest:
        params["model_manifest"] = config.manifest
    log = config.log_dir / f"node_{name}.log" if config.log_dir else None
    return start_node(NodeLaunch(parameters=params, namespace=ns, log_path=log), env=env)


def _config_dict(config: CameraBenchConfig) -> dict[str, Any]:
    data = asdict(config)
    data["log_dir"] = str(config.log_dir) if config.log_dir else None
    data["variants"] = {k: dict(v) for k, v in config.variants.items()}
    return data


def host_facts() -> dict[str, Any]:
    """CPU, cores, kernel, load and the socket-buffer sysctls that shape DDS transport."""
    model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), platform.processor())
    sysctls = {}
    for name in SYSCTLS:
        path = Path("/proc/sys") / name.replace(".", "/")
        sysctls[name] = int(path.read_text()) if path.is_file() else None
    return {"cpu": model, "cores": os.cpu_count(), "kernel": platform.release(), "loadavg_before": os.getloadavg(),
            "sysctl": sysctls, "profile_env": {v: bool(os.environ.get(v)) for v in PROFILE_ENV_VARS}}


def format_rows(rows: Sequence[Mapping[str, Any]]) -> str:
    head = (f"{'variant':<12} {'case':<40} {'sent':>5} {'ans%':>6} {'p50ms':>7} {'p99ms':>7} "
            f"{'recv':>5} {'lost':>5} {'drop':>5} {'rej':>4} {'unacc':>5}")
    lines = [head, "-" * len(head)]
    for r in rows:
        if "error" in r:
            lines.append(f"{r['variant']:<12} {r['case']:<40} {r['error']}")
            continue
        lines.append(f"{r['variant']:<12} {r['case']:<40} {r['sent']:>5} {r['answered_pct']:>6.1f} "
                     f"{r['e2e_ms_p50']:>7.1f} {r['e2e_ms_p99']:>7.1f} {r['node_received']:>5} {r['node_lost']:>5} "
                     f"{r['node_dropped']:>5} {r['node_rejected']:>4} {r['unaccounted']:>5}")
    return "\n".join(lines)
