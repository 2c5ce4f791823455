"""Helpers for tests that run ROS: the environment for child processes, polling with timeouts,
and a handle on a node running as a subprocess. Fixtures wrapping these are in conftest.py.

Import as ``from ros_harness import ...`` (test/ is on sys.path; ``from conftest import`` is
ambiguous because several test folders have a conftest.py).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
FASTDDS_PROFILE = REPO_ROOT / "config" / "fastdds_profile.xml"
PROFILE_ENV_VARS = ("FASTRTPS_DEFAULT_PROFILES_FILE", "FASTDDS_DEFAULT_PROFILES_FILE")
STOP_GRACE_S = 5.0


def apply_test_ros_env() -> None:
    """Host-local discovery (not optional), a fixed domain (caller's choice kept; make test: 74),
    Fast DDS with the shipped profile, and the source tree first on sys.path."""
    os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
    os.environ.setdefault("ROS_DOMAIN_ID", "74")
    os.environ.setdefault("RMW_IMPLEMENTATION", "rmw_fastrtps_cpp")
    if FASTDDS_PROFILE.is_file():
        for var in PROFILE_ENV_VARS:
            os.environ.setdefault(var, str(FASTDDS_PROFILE))
    if str(REPO_ROOT) not in sys.path[:1]:
        sys.path.insert(0, str(REPO_ROOT))


def make_ros_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """Environment for a child process that runs ROS: this one's, plus the ROS variables, the
    source tree first on PYTHONPATH and the shipped Fast DDS profile."""
    env = dict(os.environ)
    env["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
    env["ROS_DOMAIN_ID"] = os.environ.get("ROS_DOMAIN_ID", "74")
    env["RMW_IMPLEMENTATION"] = os.environ.get("RMW_IMPLEMENTATION", "rmw_fastrtps_cpp")
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO_ROOT), env.get("PYTHONPATH", "")) if p)
    env["PYTHONUNBUFFERED"] = "1"
    if FASTDDS_PROFILE.is_file():
        for var in PROFILE_ENV_VARS:
            env.setdefault(var, str(FASTDDS_PROFILE))
    env.update(extra or {})
    return env


def spin_until(executor: Any, predicate: Callable[[], bool], timeout_s: float, step_s: float = 0.05) -> bool:
    """Spin ``executor`` until ``predicate()`` is true or ``timeout_s`` passes; return the predicate."""
    deadline = time.monotonic() + timeout_s
    while not predicate():
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return predicate()
        executor.spin_once(timeout_sec=min(step_s, remaining))
    return True


def wait_until(predicate: Callable[[], bool], timeout_s: float, step_s: float = 0.02) -> bool:
    """Poll ``predicate`` (no executor involved) until true or ``timeout_s`` passes."""
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() >= deadline:
            return predicate()
        time.sleep(step_s)
    return True


@dataclass
class NodeProcess:
    """A node running as a child process, its output going to ``log_path``."""

    argv: list[str]
    log_path: Path
    proc: subprocess.Popen[bytes] = field(repr=False)

    def output(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def wait_for_output(self, pattern: str, timeout_s: float) -> re.Match[str]:
        """Wait until the output matches ``pattern`` (a regex); fail with the output if not."""
        found: list[re.Match[str]] = []

        def seen() -> bool:
            match = re.search(pattern, self.output())
            if match:
                found.append(match)
            return bool(match) or self.proc.poll() is not None

        wait_until(seen, timeout_s)
        if not found:
            state = f"exited with {self.proc.returncode}" if self.proc.poll() is not None else "still running"
            pytest.fail(f"{self.argv[0]}: {pattern!r} not in output after {timeout_s} s ({state}):\n{self.output()}")
        return found[0]

    def stop(self, grace_s: float = STOP_GRACE_S) -> int:
        """SIGINT (rclpy shuts down cleanly), then SIGKILL after ``grace_s``; return the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=grace_s)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=grace_s)
        return self.proc.returncode


def resolve_command(target: str, args: tuple[str, ...]) -> list[str]:
    """``"-m", "pkg.mod"`` (or ``"-c", code``) runs with this interpreter; anything else names a
    console script installed beside this interpreter (.venv/bin)."""
    if target in ("-m", "-c"):
        return [sys.executable, target, *args]
    script = Path(sys.executable).parent / target
    if not script.is_file():
        pytest.skip(f"console script {target!r} is not installed beside {sys.executable} (run make setup)")
    return [str(script), *args]
