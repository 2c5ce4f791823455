"""Verdicts CI systems read: JUnit XML, one test case per bag (or per chunk on a fleet), and ``--fail-on``.

A case lists the problems found in its frames; ``--fail-on`` decides which of them fail
the case and the run:

- ``regression``: frames differ from golden beyond the tolerances (their indices are in the message)
- ``truncated``: the bag ended before the frames its metadata lists
- ``unanswered``: frames the node gave no output for
- ``error``: the bag could not be replayed (missing topic, golden of another bag or model, ...)
- ``incomplete``: a fleet task failed on every attempt; its frames were not compared

A problem not in ``--fail-on`` is still written to the case's output, so it stays visible.
Cases failing on ``error`` or ``incomplete`` are JUnit errors, the rest JUnit failures.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from edge_ai_ros.atomic_io import atomic_write_text
from edge_ai_ros.errors import ConfigError
from edge_ai_ros.replay.session import ReplayResult

PROBLEMS = ("regression", "truncated", "unanswered", "error", "incomplete")
DEFAULT_FAIL_ON = ",".join(PROBLEMS)
_ERRORS = frozenset({"error", "incomplete"})
_SHOWN = 50  # frame indices listed in one message


def parse_fail_on(text: str) -> frozenset[str]:
    """``regression,truncated`` -> its set; unknown names are refused with the valid ones."""
    names = {n.strip() for n in text.split(",") if n.strip()}
    unknown = sorted(names - set(PROBLEMS))
    if unknown:
        raise ConfigError("--fail-on", f"unknown {', '.join(unknown)}", fix=f"choose from {', '.join(PROBLEMS)}")
    return frozenset(names)


def frame_list(indices: Iterable[int]) -> str:
    shown = sorted(indices)
    text = ", ".join(str(i) for i in shown[:_SHOWN])
    return text + (f" and {len(shown) - _SHOWN} more" if len(shown) > _SHOWN else "")


@dataclass(frozen=True, kw_only=True)
class Case:
    name: str
    classname: str
    time_s: float = 0.0
    problems: dict[str, str] = field(default_factory=dict)  # problem -> what it is, for the message
    notes: tuple[str, ...] = ()  # written to the case's output (a fleet task's retries)

    def failing(self, fail_on: frozenset[str]) -> dict[str, str]:
        return {k: v for k, v in self.problems.items() if k in fail_on}


def problems_of(result: ReplayResult, frames: range | None = None) -> dict[str, str]:
    """The problems of one bag's result, restricted to ``frames`` (one chunk) when given."""
    if result.verdict == "error" and not result.frames_read:  # could not be replayed at all
        return {"error": result.reason}
    found: dict[str, str] = {}
    window = frames if frames is not None else range(result.frames_read)
    failed = [i for i in result.failed_frames if i in window]
    if failed and result.verdict in ("fail", "error"):  # error here: other chunks of the bag were lost
        found["regression"] = f"{len(failed)} frame(s) differ from golden beyond the tolerances: {frame_list(failed)}"
    unanswered = [i for i in result.unanswered if i in window]
    if unanswered:
        found["unanswered"] = f"{len(unanswered)} frame(s) got no output: {frame_list(unanswered)}"
    last_chunk = frames is None or frames.stop >= result.frames_read
    if last_chunk and (result.read_error or result.frames_read < result.frames_expected):
        found["truncated"] = (f"bag truncated: read {result.frames_read} of {result.frames_expected} frames"
                              + (f" ({result.read_error})" if result.read_error else ""))
    return found


def bag_case(result: ReplayResult, suite: str = "replay") -> Case:
    name = Path(result.bag.rstrip("/")).name or result.bag
    return Case(name=name, classname=f"{suite}.{name}", problems=problems_of(result))


def _testcase(parent: ET.Element, case: Case, fail_on: frozenset[str]) -> None:
    node = ET.SubElement(parent, "testcase", name=case.name, classname=case.classname, time=f"{case.time_s:.3f}")
    failing = case.failing(fail_on)
    if failing:
        kind = "error" if _ERRORS & failing.keys() else "failure"
        message = "; ".join(failing.values())
        ET.SubElement(node, kind, message=message, type=",".join(sorted(failing))).text = message
    lines = [f"{k} (not in --fail-on): {v}" for k, v in case.problems.items() if k not in fail_on]
    if lines or case.notes:
        ET.SubElement(node, "system-out").text = "\n".join([*case.notes, *lines])


def write_junit(cases: Sequence[Case], path: str | Path, fail_on: frozenset[str], suite: str = "replay") -> Path:
    """One <testsuite> with a <testcase> per case; written atomically."""
    failures = sum(1 for c in cases if c.failing(fail_on) and not _ERRORS & c.failing(fail_on).keys())
    errors = sum(1 for c in cases if _ERRORS & c.failing(fail_on).keys())
    root = ET.Element("testsuites")
    suite_el = ET.SubElement(root, "testsuite", name=suite, tests=str(len(cases)), failures=str(failures),
                             errors=str(errors), skipped="0", time=f"{sum(c.time_s for c in cases):.3f}")
    for case in cases:
        _testcase(suite_el, case, fail_on)
    ET.indent(root)
    return atomic_write_text(Path(path), ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n")


def exit_status(cases: Sequence[Case], fail_on: frozenset[str]) -> int:
    """0: nothing in --fail-on; 2: an error or lost frames are; 1: other problems are."""
    failing = set().union(*(c.failing(fail_on).keys() for c in cases)) if cases else set()
    return 2 if failing & _ERRORS else 1 if failing else 0
