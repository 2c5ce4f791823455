"""Replay tests build their bags and models in tmp_path; the tiny detector lives with the node tests."""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
for folder in (HERE, HERE.parent / "ros"):
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))
