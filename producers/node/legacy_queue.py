"""One-off import of seed 001's SQLite queue (`telemetry_queue`) into the node agent's outbox.

Why it exists: a node migrating from the seed daemon may still hold snapshots its HTTP poster
never delivered (`/var/lib/resolvix/telemetry_queue.db`). `fleetstream node-agent
--import-legacy-queue PATH` moves them into fleetstream's outbox, which delivers them to
`telemetry.node` like any snapshot, instead of leaving that history behind.

The queue's rows hold seed 000 API bodies (the seed's `_transform_to_api_format`), converted by
`schemas.adapters.node.from_seed_api`. Order: oldest first, as the seed's own `dequeue` reads
them (`ORDER BY timestamp`, then `id`). A body without its own `timestamp` takes the row's
`timestamp` column (the seed stamped it at enqueue time, naive UTC), so a re-import derives the
same `event_id` and the workers drop the duplicate.

Idempotence: rows are deleted from the queue only after the outbox committed their events, one
page at a time; a crash in between re-imports that page once (duplicates the workers drop), and
a second run finds nothing left to move. Invalid rows (not JSON, fields the schema rejects) are
never dropped: they stay in the queue and are reported, id and reason, for the operator to look at.

What it must not do: create or alter the seed's database (it is opened read-write, never
created), or publish to Kafka itself (the outbox's publisher does).
"""

from __future__ import annotations

import asyncio
import logging
import socket
import sqlite3
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from schemas.adapters.node import from_seed_api
from schemas.errors import InvalidEvent
from schemas.node import NodeSnapshot

log = logging.getLogger(__name__)

PAGE = 500
TABLE = "telemetry_queue"

Publish = Callable[[Sequence[tuple[str, bytes, bytes]]], Awaitable[None]]


class LegacyQueueError(RuntimeError):
    """The file is not a seed 001 queue database (missing, unreadable, or no such table)."""


@dataclass(frozen=True, slots=True)
class InvalidRow:
    """A queue row that could not be imported, and why; it stays in the queue."""

    id: int
    reason: str


@dataclass(slots=True)
class ImportResult:
    """What one import did: snapshots moved into the outbox, and rows left behind."""

    imported: int = 0
    invalid: list[InvalidRow] = field(default_factory=list)


def _connect(path: Path) -> sqlite3.Connection:
    if not path.is_file():
        raise LegacyQueueError(f"{path}: no such file (the seed's queue database)")
    try:
        # mode=rw: never create an empty database where the operator mistyped a path.
        # check_same_thread=False: calls hop between to_thread workers, but never overlap.
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=rw", uri=True, timeout=10,
                               check_same_thread=False)
        found = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND name = ?",
                             (TABLE,)).fetchone()
    except sqlite3.DatabaseError as exc:
        raise LegacyQueueError(f"{path}: not a readable SQLite database ({exc})") from None
    if found is None:
        conn.close()
        raise LegacyQueueError(f"{path}: has no {TABLE} table (not a seed 001 queue)")
    return conn


def _page(conn: sqlite3.Connection, after: tuple[str, int] | None
          ) -> list[tuple[int, str, str, str]]:
    columns = f"SELECT id, timestamp, payload, created_at FROM {TABLE}"
    args: tuple[object, ...] = (PAGE,)
    query = f"{columns} ORDER BY timestamp, id LIMIT ?"
    if after is not None:
        query = f"{columns} WHERE (timestamp, id) > (?, ?) ORDER BY timestamp, id LIMIT ?"
        args = (*after, PAGE)
    return list(conn.execute(query, args).fetchall())


def _delete(conn: sqlite3.Connection, ids: list[int]) -> None:
    with conn:
        conn.executemany(f"DELETE FROM {TABLE} WHERE id = ?", [(i,) for i in ids])


def _stamp(raw: str | None) -> datetime | None:
    """The seed's naive-UTC `datetime.utcnow().isoformat()` column value, as an aware datetime."""
    if not raw:
        return None
    try:
        at = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        return None
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


def convert_row(timestamp: str | None, payload: str, created_at: str | None,
                source: str) -> NodeSnapshot:
    """The snapshot event of one queue row; raises InvalidEvent."""
    if not isinstance(payload, str | bytes):
        raise InvalidEvent.single("payload", f"is not JSON text but {type(payload).__name__}")
    at = _stamp(timestamp) or _stamp(created_at)
    if at is None:
        raise InvalidEvent.single("timestamp", f"row has no usable timestamp ({timestamp!r})")
    return from_seed_api(payload, received_at=at, source=source)


async def import_legacy_queue(path: Path, publish: Publish, topic: str) -> ImportResult:
    """Move every valid row of the queue at `path` into the outbox (`publish`), oldest first."""
    source = f"legacy-queue@{socket.gethostname()}"
    result = ImportResult()
    conn = await asyncio.to_thread(_connect, path)
    try:
        after: tuple[str, int] | None = None
        while rows := await asyncio.to_thread(_page, conn, after):
            after = (rows[-1][1], rows[-1][0])
            records: list[tuple[str, bytes, bytes]] = []
            moved: list[int] = []
            for row_id, timestamp, payload, created_at in rows:
                try:
                    snapshot = convert_row(timestamp, payload, created_at, source)
                except InvalidEvent as exc:
                    result.invalid.append(InvalidRow(row_id, exc.reason))
                    log.warning("node.legacy_row_invalid path=%s id=%d reason=%r",
                                path, row_id, exc.reason)
                    continue
                records.append((topic, snapshot.node_id.encode(), snapshot.encode()))
                moved.append(row_id)
            # Step 1: the outbox commits the page; step 2: only then do its rows leave the queue.
            await publish(records)
            await asyncio.to_thread(_delete, conn, moved)
            result.imported += len(moved)
    finally:
        conn.close()
    log.info("node.legacy_imported path=%s imported=%d invalid=%d",
             path, result.imported, len(result.invalid))
    return result
