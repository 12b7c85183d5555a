"""`fleetstream outbox [--json]`: every local producer outbox, its backlog, losses and last error.

Why it exists: an agent whose Kafka is away keeps collecting into its outbox; the operator on that
machine must see how much is waiting, since when, what was dropped to respect the bounds and why
delivery fails, without the agent's logs (seed 001's `get_stats()`). Each publisher owns
`<FLEETSTREAM_DATA_DIR>/outbox/<name>.sqlite3`; this reads each one with
`producers.outbox.read_stats`, read-only, so it is safe while the agents run.
Exit status 1 when a file could not be read (the others are still shown).
"""

from __future__ import annotations

import argparse
import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from common.settings import CLI
from fleetstream.commands import load_settings, printable
from fleetstream.commands.api import table
from fleetstream.commands.jobs import human_bytes
from producers.outbox import OutboxError, OutboxStats, read_stats

OUTBOX_SUFFIX = ".sqlite3"
_ERROR_PREVIEW = 80


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "outbox", help="show the local producer outboxes (backlog, drops, last delivery error)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.set_defaults(run=run)


def outbox_files(data_dir: Path) -> list[Path]:
    """Every outbox file under `data_dir`, by name (publishers name them `<name>.sqlite3`)."""
    directory = data_dir / "outbox"
    if not directory.is_dir():
        return []
    return sorted(path for path in directory.iterdir()
                  if path.name.endswith(OUTBOX_SUFFIX) and path.is_file())


def _iso(unix_seconds: float | None) -> str | None:
    if unix_seconds is None:
        return None
    return datetime.fromtimestamp(unix_seconds, UTC).isoformat(timespec="seconds").replace(
        "+00:00", "Z")


def _age(age_seconds: float) -> str:
    seconds = max(0, int(age_seconds))
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 7200:
        return f"{seconds // 60}m"
    if seconds < 172_800:
        return f"{seconds // 3600}h"
    return f"{seconds // 86_400}d"


def as_json(name: str, path: Path, stats: OutboxStats | None, error: str | None,
            now: float) -> dict[str, Any]:
    """One outbox as `--json` shows it; `error` set (and no figures) when it was unreadable."""
    if stats is None:
        return {"name": name, "path": str(path), "error": error}
    oldest = stats.oldest_enqueued_at
    return {
        "name": name, "path": str(path), "events": stats.depth, "bytes": stats.bytes,
        "oldest_enqueued_at": _iso(oldest),
        "oldest_age_seconds": None if oldest is None else round(max(0.0, now - oldest), 3),
        "dropped": stats.dropped, "last_error": stats.last_error,
        "last_error_at": _iso(stats.last_error_at),
    }


def format_table(entries: list[dict[str, Any]]) -> str:
    rows = []
    for entry in entries:
        if "error" in entry:
            rows.append((printable(entry["name"]), "?", "?", "?", "?",
                         f"unreadable: {printable(entry['error'], _ERROR_PREVIEW)}"))
            continue
        oldest = entry["oldest_enqueued_at"]
        age = "" if oldest is None else f" ({_age(entry['oldest_age_seconds'])} ago)"
        error = "-"
        if entry["last_error"] is not None:
            error = f"{entry['last_error_at']} {printable(entry['last_error'], _ERROR_PREVIEW)}"
        rows.append((printable(entry["name"]), str(entry["events"]), human_bytes(entry["bytes"]),
                     f"{oldest or '-'}{age}", str(entry["dropped"]), error))
    return table(("OUTBOX", "EVENTS", "BYTES", "OLDEST", "DROPPED", "LAST DELIVERY ERROR"), rows)


def run(args: argparse.Namespace) -> int:
    data_dir = load_settings(CLI).data_dir
    now = time.time()
    entries = []
    for path in outbox_files(data_dir):
        name = path.name.removesuffix(OUTBOX_SUFFIX)
        try:
            entries.append(as_json(name, path, read_stats(path), None, now))
        except OutboxError as exc:
            entries.append(as_json(name, path, None, str(exc), now))
    if args.json:
        print(json.dumps(entries, indent=2))
    elif entries:
        print(format_table(entries))
    else:
        print(f"no outboxes in {printable(str(data_dir / 'outbox'))}")
    return 1 if any("error" in entry for entry in entries) else 0
