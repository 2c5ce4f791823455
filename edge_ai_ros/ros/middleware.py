"""Middleware defaults every ROS process of this package applies before ``rclpy.init``.

Camera-sized frames only arrive reliably over Fast DDS with a larger shared-memory segment
(see config/fastdds_profile.xml). Both ends of a topic must load the same profile, so the
node, the in-process runner, the benchmark and the test fixtures all call
:func:`use_default_fastdds_profile`; a profile the user set explicitly always wins.
"""

from __future__ import annotations

import os
from collections.abc import MutableMapping
from pathlib import Path

from edge_ai_ros.errors import ConfigError

PROFILE_FILE_NAME = "fastdds_profile.xml"
PROFILE_ENV_VARS = ("FASTRTPS_DEFAULT_PROFILES_FILE", "FASTDDS_DEFAULT_PROFILES_FILE")
PACKAGE_NAME = "edge_ai_ros"


def config_file(name: str) -> Path:
    """Path of a shipped config file: the ament share folder when installed, else the source tree."""
    candidates = [Path(__file__).resolve().parents[2] / "config" / name]
    try:
        from ament_index_python.packages import (  # optional on pip installs
            PackageNotFoundError,
            get_package_share_directory,
        )

        try:
            candidates.insert(0, Path(get_package_share_directory(PACKAGE_NAME)) / "config" / name)
        except (PackageNotFoundError, ValueError, OSError):  # OSError: AMENT_PREFIX_PATH unset
            pass
    except ImportError:
        pass
    for path in candidates:
        if path.is_file():
            return path
    raise ConfigError(
        "config_file", f"{name} not found in {', '.join(str(p) for p in candidates)}",
        fix="install the package with colcon or pip so that its config/ folder is present",
    )


def default_fastdds_profile() -> Path:
    return config_file(PROFILE_FILE_NAME)


def use_default_fastdds_profile(env: MutableMapping[str, str] | None = None) -> str:
    """Point Fast DDS at the shipped profile unless a profile is already set; return the one in use.

    Call before ``rclpy.init`` (Fast DDS reads the variables when the participant is created).
    Pass a dict (e.g. a copy of ``os.environ``) to prepare a child process's environment.
    """
    target = os.environ if env is None else env
    chosen = next((target[var] for var in PROFILE_ENV_VARS if target.get(var)), "")
    if not chosen:
        chosen = str(default_fastdds_profile())
    for var in PROFILE_ENV_VARS:
        if not target.get(var):
            target[var] = chosen
    return chosen
