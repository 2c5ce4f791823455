"""Start the inference node as its own process, the way a vehicle runs it (benchmark, tests).

A separate process is what the node is in service: its own interpreter, GIL and DDS
participant, so measured latency includes real inter-process transport. The environment
gets LOCALHOST discovery, the caller's domain id and the shipped Fast DDS profile.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from edge_ai_ros.ros.environment import apply_ros_env_defaults

_STOP_TIMEOUT_S = 15.0


@dataclass(frozen=True, kw_only=True)
class NodeLaunch:
    """How to start one inference node process."""

    parameters: Mapping[str, object] = field(default_factory=dict)
    remaps: Mapping[str, str] = field(default_factory=dict)
    namespace: str = ""
    node_name: str = ""
    log_path: Path | None = None  # stdout+stderr go here (else inherited)
    module: str = "edge_ai_ros.ros.inference_node"  # the node's ``python -m`` module


def ros_arg_value(value: object) -> str:
    """A parameter value as ``-p name:=value`` text (YAML, so strings stay strings)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    return repr(value)


def node_command(launch: NodeLaunch) -> list[str]:
    args = [sys.executable, "-m", launch.module, "--ros-args"]
    for name, value in launch.parameters.items():
        args += ["-p", f"{name}:={ros_arg_value(value)}"]
    for source, target in launch.remaps.items():
        args += ["-r", f"{source}:={target}"]
    if launch.namespace:
        args += ["-r", f"__ns:={launch.namespace}"]
    if launch.node_name:
        args += ["-r", f"__node:={launch.node_name}"]
    return args


def start_node(launch: NodeLaunch, env: Mapping[str, str] | None = None) -> subprocess.Popen[bytes]:
    child_env = dict(os.environ if env is None else env)
    apply_ros_env_defaults(child_env)
    root = str(Path(__file__).resolve().parents[2])
    child_env["PYTHONPATH"] = os.pathsep.join(p for p in (root, child_env.get("PYTHONPATH", "")) if p)
    out = open(launch.log_path, "wb") if launch.log_path else None  # noqa: SIM115 - owned by the child
    try:
        return subprocess.Popen(node_command(launch), env=child_env, stdout=out, stderr=subprocess.STDOUT if out else None)
    finally:
        if out is not None:
            out.close()


def stop_node(proc: subprocess.Popen[bytes], timeout_s: float = _STOP_TIMEOUT_S) -> int:
    """SIGINT (the node shuts down cleanly), then SIGKILL if it does not exit in time."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            return proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
    return proc.wait()

