"""Shared test setup: host-local ROS on a fixed domain, the source tree first on sys.path, and
fixtures for tests that use real rclpy in this process or start nodes as subprocesses.

Environment is set at import, before any test module imports rclpy: DDS reads it when the first
participant is created, and discovery traffic must never leave this machine.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
FASTDDS_PROFILE = REPO_ROOT / "config" / "fastdds_profile.xml"
PROFILE_ENV_VARS = ("FASTRTPS_DEFAULT_PROFILES_FILE", "FASTDDS_DEFAULT_PROFILES_FILE")
STOP_GRACE_S = 5.0

# Host-local discovery is not optional; the domain may be chosen by the caller (make test: 74).
os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
os.environ.setdefault("ROS_DOMAIN_ID", "74")
os.environ.setdefault("RMW_IMPLEMENTATION", "rmw_fastrtps_cpp")
# Both ends of a camera topic must load the same Fast DDS profile: this process and its children.
if FASTDDS_PROFILE.is_file():
    for _var in PROFILE_ENV_VARS:
        os.environ.setdefault(_var, str(FASTDDS_PROFILE))
# Tests import the source tree; edge_ai_ros/__init__.py extends __path__ so the generated
# interfaces (edge_ai_ros.msg/srv/action) are still found in the venv's site-packages.
if str(REPO_ROOT) not in sys.path[:1]:
    sys.path.insert(0, str(REPO_ROOT))


def _rclpy_importable() -> bool:
    try:
        import rclpy  # noqa: F401
    except ImportError:
        return False
    return True


HAVE_RCLPY = _rclpy_importable()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "ros: needs rclpy (skipped where rclpy is not importable)")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if HAVE_RCLPY:
        return
    skip = pytest.mark.skip(reason="rclpy is not importable here (run make setup, or source a ROS 2 install)")
    for item in items:
        if "ros" in item.keywords:
            item.add_marker(skip)


def _require_rclpy() -> Any:
    return pytest.importorskip("rclpy", reason="rclpy is not importable here (run make setup)")


def make_ros_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """Environment for a child process that runs ROS: this one's, plus the ROS variables, the
    source tree first on PYTHONPATH and the shipped Fast DDS profile."""
    env = dict(os.environ)
    env["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
    env["ROS_DOMAIN_ID"] = os.environ["ROS_DOMAIN_ID"]
    env["RMW_IMPLEMENTATION"] = os.environ["RMW_IMPLEMENTATION"]
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO_ROOT), env.get("PYTHONPATH", "")) if p)
    env["PYTHONUNBUFFERED"] = "1"
    if FASTDDS_PROFILE.is_file():
        for var in PROFILE_ENV_VARS:
            env.setdefault(var, str(FASTDDS_PROFILE))
    env.update(extra or {})
    return env


@pytest.fixture
def ros_env() -> dict[str, str]:
    """A fresh dict of environment variables for subprocesses that run nodes."""
    return make_ros_env()


@pytest.fixture
def rclpy_context() -> Iterator[Any]:
    """A freshly initialised rclpy Context, shut down after the test.

    Destroy your nodes and shut your executors down before the test ends (or use
    ``background_spin``): a daemon spin thread still running at interpreter exit aborts the
    process, and a non-daemon one hangs pytest.
    """
    rclpy = _require_rclpy()
    context = rclpy.Context()
    rclpy.init(context=context)
    try:
        yield context
    finally:
        context.try_shutdown()


def spin_until(executor: Any, predicate: Callable[[], bool], timeout_s: float, step_s: float = 0.05) -> bool:
    """Spin ``executor`` until ``predicate()`` is true or ``timeout_s`` passes; return the predicate."""
    deadline = time.monotonic() + timeout_s
    while not predicate():
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return predicate()
        executor.spin_once(timeout_sec=min(step_s, remaining))
    return True


@pytest.fixture(name="spin_until")
def spin_until_fixture() -> Callable[..., bool]:
    """``spin_until(executor, predicate, timeout_s)`` as a fixture, for tests that prefer it."""
    return spin_until


def wait_until(predicate: Callable[[], bool], timeout_s: float, step_s: float = 0.02) -> bool:
    """Poll ``predicate`` (no executor involved) until true or ``timeout_s`` passes."""
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() >= deadline:
            return predicate()
        time.sleep(step_s)
    return True


@pytest.fixture
def background_spin() -> Iterator[Callable[[Any], threading.Thread]]:
    """Start ``executor.spin()`` in a thread; at teardown shut the executor down and join it."""
    started: list[tuple[Any, threading.Thread]] = []

    def start(executor: Any) -> threading.Thread:
        thread = threading.Thread(target=_spin_quietly, args=(executor,), name="test-spin", daemon=False)
        thread.start()
        started.append((executor, thread))
        return thread

    yield start
    for executor, thread in started:
        executor.shutdown(timeout_sec=STOP_GRACE_S)
        thread.join(timeout=STOP_GRACE_S)
        assert not thread.is_alive(), "executor thread did not stop; it would hang pytest at exit"


def _spin_quietly(executor: Any) -> None:
    from rclpy.executors import ExternalShutdownException

    try:
        executor.spin()
    except ExternalShutdownException:
        pass


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
    """``"-m", "pkg.mod"`` runs a module with this interpreter; anything else names a console
    script installed beside this interpreter (.venv/bin)."""
    if target == "-m":
        return [sys.executable, "-m", *args]
    script = Path(sys.executable).parent / target
    if not script.is_file():
        pytest.skip(f"console script {target!r} is not installed beside {sys.executable} (run make setup)")
    return [str(script), *args]


@pytest.fixture
def node_process(ros_env: dict[str, str], tmp_path: Path) -> Iterator[Callable[..., NodeProcess]]:
    """Factory: ``node_process("inference_node", "--ros-args", "-r", "image:=cam")`` or
    ``node_process("-m", "edge_ai_ros.ros.camera_source", ...)``; ``env=`` adds variables.
    Every process started is stopped (SIGINT, then SIGKILL) at teardown."""
    _require_rclpy()
    started: list[NodeProcess] = []

    def start(target: str, *args: str, env: Mapping[str, str] | None = None) -> NodeProcess:
        argv = resolve_command(target, args)
        log_path = tmp_path / f"{Path(argv[0]).name}-{len(started)}.log"
        with log_path.open("wb") as log:
            proc = subprocess.Popen(argv, env={**ros_env, **(env or {})}, stdout=log, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, cwd=tmp_path)
        node = NodeProcess(argv=argv, log_path=log_path, proc=proc)
        started.append(node)
        return node

    yield start
    for node in started:
        node.stop()
