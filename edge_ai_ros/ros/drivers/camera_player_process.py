"""Drives a camera player process (ros/drivers/camera_player.py) over its stdin/stdout JSON lines."""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

from edge_ai_ros.errors import EdgeAiError
from edge_ai_ros.ros.environment import apply_ros_env_defaults

PLAYER_MODULE = "edge_ai_ros.ros.drivers.camera_player"
_REPLY_EXTRA_S = 30.0
_STOP_S = 10.0


class PlayerProcess:
    """Context manager: starts the player, tells it when ready, plays runs, and quits it on exit."""

    def __init__(self, topics: Sequence[str], width: int, height: int, *, log_path: Path | None = None) -> None:
        env = dict(os.environ)
        apply_ros_env_defaults(env)
        root = str(Path(__file__).resolve().parents[3])
        env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH", "")) if p)
        args = [sys.executable, "-m", PLAYER_MODULE, "--topics", ",".join(topics), "--width", str(width),
                "--height", str(height)]
        err = open(log_path, "wb") if log_path else None  # noqa: SIM115 - owned by the child
        try:
            self._proc = subprocess.Popen(args, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                          stderr=err, text=True)
        finally:
            if err is not None:
                err.close()
        self._lines: queue.Queue[str | None] = queue.Queue()
        self._ready: bool | None = None
        threading.Thread(target=self._read, name="camera_player_reader", daemon=True).start()

    def _read(self) -> None:
        assert self._proc.stdout is not None
        for line in self._proc.stdout:
            self._lines.put(line)
        self._lines.put(None)  # the player exited

    def _reply(self, timeout_s: float) -> dict[str, Any]:
        try:
            line = self._lines.get(timeout=timeout_s)
        except queue.Empty as err:
            raise EdgeAiError(f"the camera player did not answer within {timeout_s:.0f} s",
                              fix="see the player log") from err
        if line is None:
            raise EdgeAiError(f"the camera player exited (code {self._proc.wait()})", fix="see the player log")
        data: dict[str, Any] = json.loads(line)
        return data

    def poll_ready(self) -> bool:
        """True once the player has a subscriber on every topic; raises if it gave up or died."""
        if self._ready is None and not self._lines.empty():
            reply = self._reply(0.0)
            if not reply.get("ready"):
                raise EdgeAiError(f"no subscriber on {reply.get('unmatched')}", fix="see the node logs")
            self._ready = True
        return bool(self._ready)

    def play(self, hz: float, duration_s: float) -> dict[str, Any]:
        """One run; returns the player's report ({"sent": {topic: [stamps]}, "elapsed_s": ...})."""
        self._send({"hz": hz, "duration_s": duration_s})
        return self._reply(duration_s * 2 + _REPLY_EXTRA_S)

    def _send(self, command: dict[str, Any]) -> None:
        assert self._proc.stdin is not None
        self._proc.stdin.write(json.dumps(command) + "\n")
        self._proc.stdin.flush()

    def __enter__(self) -> PlayerProcess:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if self._proc.poll() is None:
            try:
                self._send({"quit": True})
                self._proc.wait(_STOP_S)
            except (OSError, subprocess.TimeoutExpired):
                self._proc.kill()
                self._proc.wait()
