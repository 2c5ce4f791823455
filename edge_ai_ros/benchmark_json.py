"""The one writer of benchmark results as JSON: every benchmark of this package calls it.

Speed numbers mean little without the host they were measured on, so every benchmark's
JSON goes through :func:`write_benchmark_json`: the single place where facts about the
host are added to a result. The file is written atomically (atomic_io).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from edge_ai_ros.atomic_io import atomic_write_text
from edge_ai_ros.host import describe_host


def write_benchmark_json(path: str | Path, payload: Mapping[str, Any]) -> Path:
    """Write ``payload`` (JSON-serialisable) to ``path`` atomically, with the host it was measured
    on under ``"host"`` (CPU model and flags, cores, cgroup quota, load, runtime versions) unless
    the payload already carries one; returns the path written."""
    data = dict(payload)
    data.setdefault("host", describe_host())
    return atomic_write_text(Path(path), json.dumps(data, indent=2) + "\n")
