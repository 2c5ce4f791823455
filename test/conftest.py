"""Shared test setup: host-local ROS on a fixed domain, the source tree first on sys.path, and
fixtures for tests that use real rclpy in this process or start nodes as subprocesses.

The environment is set at import, before any test module imports rclpy: DDS reads it when the
first participant is created, and discovery traffic must never leave this machine. Helpers to
import in tests live in ros_harness.py.
"""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

# pytest.ini imports test files with --import-mode=importlib, so two folders may hold test files
# with the same name (test/replay/test_report.py, test/compression/test_report.py). Helper
# modules (ros_harness.py, ros/image_bags.py, ...) are imported by bare name, so test/ and its
# folders go on sys.path here.
TEST_ROOT = Path(__file__).resolve().parent
for _folder in [TEST_ROOT, *sorted(p for p in TEST_ROOT.iterdir() if p.is_dir() and not p.name.startswith((".", "_")))]:
    if str(_folder) not in sys.path:
        sys.path.append(str(_folder))

from ros_harness import (  # noqa: E402
    STOP_GRACE_S,
    NodeProcess,
    apply_test_ros_env,
    make_ros_env,
    resolve_command,
    spin_until,
)

apply_test_ros_env()


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


@pytest.fixture(autouse=True, scope="session")
def _private_choice_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Backends measured by ``auto`` are remembered in a folder of this run, not the user's cache
    (set in the environment, so nodes started as subprocesses use it too)."""
    patch = pytest.MonkeyPatch()
    patch.setenv("EDGE_AI_ROS_CACHE_DIR", str(tmp_path_factory.mktemp("edge-ai-ros-cache")))
    yield
    patch.undo()


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


@pytest.fixture(name="spin_until")
def spin_until_fixture() -> Callable[..., bool]:
    """``spin_until(executor, predicate, timeout_s)`` as a fixture, for tests that prefer it."""
    return spin_until


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
