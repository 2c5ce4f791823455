"""Helpers for the Ray replay tests: a player whose process dies once, and what Ray listens on.

Ray workers import this module by name (the tests put this folder on their PYTHONPATH).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from pathlib import Path

from edge_ai_ros.bags.source import Frame
from edge_ai_ros.replay.player import DEFAULT_REPLAYER_CONFIG, ReplayerConfig, ReplayOutcome


class DiesOnce:
    """Plays through the real node, but the first task to reach its ``after``-th frame kills its process.

    ``marker`` (a file in the test's tmp_path) records that the kill happened, so a retry plays on.
    """

    def __init__(self, marker: Path, after: int = 2) -> None:
        self.marker, self.after = str(marker), after

    def _frames(self, frames: Iterable[Frame]) -> Iterator[Frame]:
        for n, frame in enumerate(frames):
            if n == self.after and self._claim(frame.index):
                os._exit(3)  # no cleanup, no exception: the worker process is simply gone
            yield frame

    def _claim(self, index: int) -> bool:
        """True for exactly one task: the marker is created with O_EXCL, so two workers racing to the
        same frame cannot both die (an exists-then-write check let two concurrent chunks die at once)."""
        try:
            fd = os.open(self.marker, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            return False
        with os.fdopen(fd, "w") as out:
            out.write(f"{os.getpid()} {index}\n")
        return True

    def __call__(self, frames: Iterable[Frame], *, msgtype: str, manifest: str, backend: str,
                 config: ReplayerConfig = DEFAULT_REPLAYER_CONFIG) -> ReplayOutcome:
        from edge_ai_ros.ros.drivers.bag_replayer import replay_frames

        return replay_frames(self._frames(frames), msgtype=msgtype, manifest=manifest, backend=backend, config=config)


def _descendants(root: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    found, todo = set(), [root]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def _socket_inodes(pid: int) -> set[str]:
    inodes = set()
    try:
        for fd in (Path("/proc") / str(pid) / "fd").iterdir():
            target = os.readlink(fd)
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    except OSError:
        pass
    return inodes


def _address(hex_addr: str) -> str:
    if len(hex_addr) == 8:
        return ".".join(str(int(hex_addr[i:i + 2], 16)) for i in (6, 4, 2, 0))
    words = [hex_addr[i:i + 8] for i in range(0, 32, 8)]
    if words[:2] == ["00000000", "00000000"] and words[2] == "FFFF0000":
        return "::ffff:" + _address(words[3])
    return "::1" if hex_addr == "00000000000000000000000001000000" else hex_addr


def listening_addresses(root: int) -> dict[str, int]:
    """Local address -> count of listening TCP sockets held by ``root``'s descendant processes."""
    inodes = set().union(*(_socket_inodes(pid) for pid in _descendants(root))) or set()
    found: dict[str, int] = {}
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A" and fields[9] in inodes:  # 0A: LISTEN
                address = _address(fields[1].split(":")[0])
                found[address] = found.get(address, 0) + 1
    return found


def is_loopback(address: str) -> bool:
    return address.startswith("127.") or address in ("::1", ) or address.startswith("::ffff:127.")
