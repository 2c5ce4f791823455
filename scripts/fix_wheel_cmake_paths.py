"""Point the ROS wheels' exported CMake files at this interpreter's include folders.

The PyPI ROS wheels were built in a manylinux container, and their exported
``*__rosidl_generator_pyExport.cmake`` files name that container's Python and numpy include
folders. Building our interfaces against them fails until those paths name this venv's.
Idempotent: a second run finds nothing to rewrite.
"""

from __future__ import annotations

import sys
import sysconfig
from pathlib import Path

import numpy

# Prefixes baked into the wheels (the wheels were built elsewhere: their CMake files name that machine's include folders).
BUILD_HOST_PYTHON_INCLUDE = "/opt/python/cp311-cp311/include/python3.11"
BUILD_HOST_NUMPY_INCLUDE = "/opt/python/cp311-cp311/lib/python3.11/site-packages/numpy/_core/include"


def rewrite(share_dir: Path) -> list[Path]:
    """Rewrite every *.cmake under share_dir in place; return the files changed."""
    replacements = {
        BUILD_HOST_PYTHON_INCLUDE: sysconfig.get_paths()["include"],
        BUILD_HOST_NUMPY_INCLUDE: numpy.get_include(),
    }
    changed = []
    for path in sorted(share_dir.rglob("*.cmake")):
        text = path.read_text(encoding="utf-8")
        new_text = text
        for old, new in replacements.items():
            new_text = new_text.replace(old, new)
        if new_text != text:
            path.write_text(new_text, encoding="utf-8")
            changed.append(path)
    return changed


def main() -> int:
    share_dir = Path(sys.prefix) / "share"
    changed = rewrite(share_dir)
    print(f"fix_wheel_cmake_paths: rewrote {len(changed)} file(s) under {share_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
