"""``edge-ai-ros cache list|verify|prune``: look after the compiler's engine cache."""

from __future__ import annotations

import argparse
import time

from edge_ai_ros.compiler.cache import EngineCache
from edge_ai_ros.compiler.cache_admin import EntryInfo, list_entries, prune

_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}


def parse_size(text: str) -> int:
    """'500M', '2g', '1048576' -> bytes."""
    value = text.strip().lower().removesuffix("b").removesuffix("i")
    unit = value[-1] if value and value[-1] in _UNITS else ""
    number = value[: len(value) - len(unit)]
    try:
        return int(float(number) * _UNITS[unit])
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (use e.g. 500M or 2G)") from err


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=("list", "verify", "prune"),
                        help="list entries; verify every file's hash; prune broken, old or surplus entries")
    parser.add_argument("--cache-dir", default=".cache/engines", help="the cache 'edge-ai-ros compile' used")
    parser.add_argument("--max-size", type=parse_size, default=None,
                        help="prune: remove least recently used entries until the cache fits (e.g. 2G)")
    parser.add_argument("--older-than-days", type=float, default=None,
                        help="prune: remove entries not used for this many days")
    parser.add_argument("--dry-run", action="store_true", help="prune: only print what would be removed")


def _line(e: EntryInfo) -> str:
    used = time.strftime("%Y-%m-%d %H:%M", time.localtime(e.last_used))
    status = "ok" if not e.problem else f"BAD: {e.problem}"
    return f"{e.key[:16]}  {e.size_bytes / 1e6:9.2f} MB  {used}  {e.backend}/{e.precision}  {e.model_id}  {status}"


def run(args: argparse.Namespace) -> int:
    cache = EngineCache(args.cache_dir)
    if args.action == "prune":
        older = None if args.older_than_days is None else args.older_than_days * 86400.0
        removed = prune(cache, max_bytes=args.max_size, older_than_s=older, dry_run=args.dry_run)
        for entry in removed:
            print(f"{'would remove' if args.dry_run else 'removed'} {_line(entry)}")
        print(f"{len(removed)} entries {'to remove' if args.dry_run else 'removed'}")
        return 0
    entries = list_entries(cache, verify=args.action == "verify")
    for entry in entries:
        print(_line(entry))
    bad = sum(1 for e in entries if e.problem)
    print(f"{len(entries)} entries, {sum(e.size_bytes for e in entries) / 1e6:.2f} MB, {bad} bad")
    return 1 if bad else 0
