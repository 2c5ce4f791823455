"""Replay with the ROS player wired in: one bag in this process, or one job file as a child process.

``replay.session`` is ROS-free and takes the player as an argument; this is where the player
that runs a real inference node (:func:`edge_ai_ros.ros.drivers.bag_replayer.replay_frames`)
is handed to it. ``python -m edge_ai_ros.ros.drivers.replay_process JOB.json`` is the child
process that ``replay.jobs.run_jobs`` starts per bag; its answer is the job's ``summary.json``.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path

from edge_ai_ros.atomic_io import atomic_write_text
from edge_ai_ros.errors import EdgeAiError
from edge_ai_ros.replay import session
from edge_ai_ros.replay.jobs import job_from_dict
from edge_ai_ros.replay.session import ReplayJob, ReplayResult, error_result
from edge_ai_ros.ros.drivers.bag_replayer import replay_frames


def run_replay(job: ReplayJob) -> ReplayResult:
    """Replay one bag through an inference node in this process (see replay/session.py)."""
    return session.run_replay(job, replay_frames)


def main(argv: Sequence[str] | None = None) -> int:
    """Child-process entry: run the job in JOB.json; its summary.json is the answer."""
    args = list(sys.argv[1:] if argv is None else argv)
    job = job_from_dict(json.loads(Path(args[0]).read_text(encoding="utf-8")))
    try:
        result = run_replay(job)
    except EdgeAiError as err:
        result = error_result(job, err)
        atomic_write_text(Path(job.out_dir) / "summary.json", json.dumps(result.to_dict(), indent=1) + "\n")
        print(f"replay of {job.bag}: {err}", file=sys.stderr)
    return 0 if result.verdict in ("pass", "done", "recorded") else 1


if __name__ == "__main__":
    sys.exit(main())
