"""``edge-ai-ros <command> --help`` works for every registered subcommand without loading ROS or torch.

Checked in a fresh interpreter (this test process may have imported rclpy already): the
subcommand's module is imported and its parser built, and afterwards neither rclpy nor
torch is in sys.modules. The launch file is loaded the same way.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from edge_ai_ros.cli.main import SUBCOMMANDS

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("rclpy", "torch", "launch", "launch_ros")

_PROBE = """
import contextlib, importlib.util, io, json, sys
from edge_ai_ros.cli.main import SUBCOMMANDS, main
report = {}
for name, (module, _) in SUBCOMMANDS.items():
    if importlib.util.find_spec(module) is None:
        report[name] = {"missing": module}
        continue
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        try:
            rc = main([name, "--help"])
        except SystemExit as exc:
            rc = exc.code
    report[name] = {"rc": rc, "out": out.getvalue(), "heavy": [m for m in HEAVY if m in sys.modules]}
spec = importlib.util.spec_from_file_location("launch_file", LAUNCH)
spec.loader.exec_module(importlib.util.module_from_spec(spec))
report["<launch file>"] = {"rc": 0, "out": "usage:", "heavy": [m for m in HEAVY if m in sys.modules]}
print(json.dumps(report))
"""


@pytest.fixture(scope="module")
def report() -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    code = f"HEAVY = {HEAVY!r}\nLAUNCH = {str(ROOT / 'launch' / 'perception.launch.py')!r}\n{_PROBE}"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120,
                          check=False)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("name", [*SUBCOMMANDS, "<launch file>"])
def test_help_loads_neither_ros_nor_torch(report: dict[str, Any], name: str) -> None:
    entry = report[name]
    assert "missing" not in entry, f"subcommand {name!r} is registered but {entry.get('missing')} does not exist"
    assert entry["rc"] == 0
    assert "usage:" in entry["out"]
    assert entry["heavy"] == [], f"{name} --help imported {entry['heavy']}"


def test_top_level_help_lists_every_subcommand() -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-m", "edge_ai_ros.cli.main", "--help"], capture_output=True,
                          text=True, env=env, timeout=60, check=False)
    assert proc.returncode == 0
    for name in SUBCOMMANDS:
        assert name in proc.stdout


def test_unknown_subcommand_exits_2_with_the_choices() -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-m", "edge_ai_ros.cli.main", "flyto"], capture_output=True,
                          text=True, env=env, timeout=60, check=False)
    assert proc.returncode == 2 and "unknown command 'flyto'" in proc.stderr
