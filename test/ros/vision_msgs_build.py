"""Where the tests get vision_msgs: the installed package, or a build of test/_interfaces/vision_msgs.

vision_msgs is not on PyPI, so the standalone venv has none. The stand-in is built once per
content hash into build/test-interfaces/ (colcon, ~10 s) and never installed into the venv, so
the node there behaves as on a vehicle without vision_msgs. rosidl loads a message's typesupport
library by name, which only LD_LIBRARY_PATH at process start can resolve: the build is used by
child processes started with :func:`vision_env`.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from edge_ai_ros.atomic_io import atomic_write_text, file_lock

REPO_ROOT = Path(__file__).resolve().parents[2]
SOURCE = REPO_ROOT / "test" / "_interfaces" / "vision_msgs"  # "_": conftest keeps it off sys.path
BUILD_ROOT = REPO_ROOT / "build" / "test-interfaces"
_BUILD_TIMEOUT_S = 300


def _source_hash() -> str:
    if not (SOURCE / "package.xml").is_file():
        pytest.fail(f"the vision_msgs test stand-in is missing: {SOURCE / 'package.xml'}")
    digest = hashlib.sha256()
    for path in sorted(p for p in SOURCE.rglob("*") if p.is_file()):
        digest.update(path.relative_to(SOURCE).as_posix().encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


def _build(prefix: Path, work: Path) -> None:
    colcon = Path(sys.executable).parent / "colcon"
    if not colcon.is_file():
        pytest.skip(f"vision_msgs is not installed and colcon is not beside {sys.executable} to build the "
                    "test stand-in (run make setup)")
    env = {**os.environ, "PATH": os.pathsep.join([str(colcon.parent), os.environ.get("PATH", "")])}
    if sys.prefix != sys.base_prefix:  # the standalone venv holds rosidl's CMake packages; a sourced ROS has its own
        for var in ("AMENT_PREFIX_PATH", "CMAKE_PREFIX_PATH"):
            env[var] = os.pathsep.join(p for p in (sys.prefix, os.environ.get(var, "")) if p)
    shutil.rmtree(prefix, ignore_errors=True)
    done = subprocess.run(
        [str(colcon), "--log-base", str(work / "log"), "build", "--base-paths", str(SOURCE),
         "--build-base", str(work / "build"), "--install-base", str(prefix), "--merge-install",
         "--cmake-args", f"-DPython3_EXECUTABLE={sys.executable}", "-DBUILD_TESTING=OFF"],
        env=env, capture_output=True, text=True, timeout=_BUILD_TIMEOUT_S, check=False,
    )
    if done.returncode != 0:
        pytest.fail(f"building the vision_msgs test stand-in failed:\n{done.stdout[-4000:]}\n{done.stderr[-2000:]}")


def vision_env() -> dict[str, str]:
    """Variables a child process needs to import vision_msgs ({} where it is installed)."""
    spec = importlib.util.find_spec("vision_msgs")
    if spec is not None and spec.origin is not None:  # a real package, not a stray folder of that name
        return {}
    key = _source_hash()
    prefix, work = BUILD_ROOT / key / "install", BUILD_ROOT / key / "work"
    stamp = BUILD_ROOT / key / "built"
    with file_lock(BUILD_ROOT / f"{key}.lock", timeout_s=_BUILD_TIMEOUT_S):
        if not stamp.is_file():
            _build(prefix, work)
            atomic_write_text(stamp, key)
    site = prefix / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}" / "site-packages"
    return {
        "PYTHONPATH": os.pathsep.join(p for p in (str(site), os.environ.get("PYTHONPATH", "")) if p),
        "LD_LIBRARY_PATH": os.pathsep.join(p for p in (str(prefix / "lib"), os.environ.get("LD_LIBRARY_PATH", "")) if p),
    }
