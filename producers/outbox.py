"""Durable, bounded FIFO of encoded events waiting for Kafka's acknowledgement.

Why it exists: a producer must keep collecting while Kafka (or the network to it) is down, and must
survive its own restarts without losing what it had collected. Rows live in a SQLite file in WAL
mode; the publisher deletes a row only after Kafka acknowledged it.

Bounds: `max_events` rows and `max_bytes` payload bytes (key + value). A put that would exceed
either drops the OLDEST rows — recent telemetry is worth more than old — and adds them, in the same
transaction, to a dropped counter stored in the same file, so the count of lost events survives
restarts and is reported by `stats()`. Losses are never silent. The publisher's latest delivery
error is kept in the file too (`record_error`), so an operator sees why a backlog grows without
the producer's logs: `read_stats(path)` reads all of it from outside, read-only, while the
producer runs (`fleetstream outbox`).

What it must not do: know about Kafka; decode or re-encode values (the `event_id` inside each
value is what turns a resend after a crash into a duplicate the stream workers drop); block the
event loop.
Every SQLite call runs on one dedicated thread per outbox: a sqlite3 connection belongs to the
thread that opened it, and a single thread also serialises all access without locks.

Durability: `synchronous=NORMAL` in WAL mode. A committed put survives a crash or kill of the
process (the contract); only a power cut can lose the last commits, which `FULL` would prevent at
the price of an fsync per put.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")

# Stay well below SQLite's bound-parameter limit (999 on builds older than 3.32).
_MAX_PARAMS = 500

_SCHEMA = (
    # AUTOINCREMENT: an id is never reused, even after the newest row was deleted, so ordering by
    # id is enqueue order across restarts and an id the publisher holds always names one event.
    """
    CREATE TABLE IF NOT EXISTS outbox (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        topic TEXT NOT NULL,
        key BLOB NOT NULL,
        value BLOB NOT NULL,
        size INTEGER NOT NULL,
        enqueued_at REAL NOT NULL
    )
    """,
    "CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL)",
    "INSERT OR IGNORE INTO counters (name, value) VALUES ('dropped', 0)",
    # Added after the first release: files without it get it on their next open, and code that
    # predates it ignores it.
    "CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT, at REAL)",
)
_LAST_ERROR = "last_delivery_error"

# The statements, named once (some run in two places). SQLite reads keywords, names and pragma
# values in any case, so a statement's text is only checked by running it: every one of them runs
# against real SQLite files in tests/unit/producers/test_outbox.py.
_WAL = "PRAGMA journal_mode=WAL"
_SYNCHRONOUS_NORMAL = "PRAGMA synchronous=NORMAL"
_BUSY_TIMEOUT = "PRAGMA busy_timeout=5000"
_DEPTH_AND_BYTES = "SELECT count(*), coalesce(sum(size), 0) FROM outbox"
_DROPPED = "SELECT value FROM counters WHERE name = 'dropped'"
_INSERT = "INSERT INTO outbox (topic, key, value, size, enqueued_at) VALUES (?, ?, ?, ?, ?)"
_COUNT_DROPPED = "UPDATE counters SET value = value + ? WHERE name = 'dropped'"
_SET_META = "INSERT OR REPLACE INTO meta (name, value, at) VALUES (?, ?, ?)"
_PEEK = "SELECT id, topic, key, value, enqueued_at FROM outbox ORDER BY id LIMIT ?"
_OLDEST = "SELECT enqueued_at FROM outbox ORDER BY id LIMIT 1"
_HAS_META = "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'"
_GET_META = "SELECT value, at FROM meta WHERE name = ?"
_IDS_AND_SIZES = "SELECT id, size FROM outbox ORDER BY id"
_DELETE_UP_TO = "DELETE FROM outbox WHERE id <= ?"
MAX_ERROR_CHARS = 2000
"""A stored delivery error is cut to this length (broker messages can be long)."""


class OutboxError(RuntimeError):
    """The outbox cannot be used as asked (closed, or its file cannot be put in WAL mode)."""


class OutboxClosedError(OutboxError):
    """Raised by every call after `close()`: the caller is publishing past its own shutdown."""


class RecordTooLargeError(ValueError):
    """One record is larger than the outbox (or Kafka) could ever hold; it is refused up front.

    Accepting it would either wipe the whole outbox to make room or block delivery forever.
    """


@dataclass(frozen=True, slots=True)
class OutboxRecord:
    """One stored event, exactly the bytes the producer handed over, plus its place in the FIFO."""

    id: int
    topic: str
    key: bytes
    value: bytes
    enqueued_at: float
    """Wall-clock time of the put, seconds since the epoch."""


@dataclass(frozen=True, slots=True)
class OutboxStats:
    """What an operator needs to see about the backlog: its size, its age and what was lost."""

    depth: int
    bytes: int
    dropped: int
    """Events dropped to respect the bounds since the file was created (persisted)."""
    oldest_enqueued_at: float | None
    """Wall-clock enqueue time of the oldest undelivered event; None when empty."""
    last_error: str | None = None
    """The latest delivery error the publisher recorded (kept after recovery), persisted."""
    last_error_at: float | None = None


class Outbox:
    """A SQLite-backed FIFO of (topic, key, value) records, bounded, drop-oldest, restart-safe.

    The file is opened lazily on the first call, on the outbox's own thread. Rows are deleted only
    through `delete()` (after Kafka's acknowledgement) or by the drop-oldest bound on `put()`.
    """

    def __init__(self, path: Path, max_events: int, max_bytes: int) -> None:
        if max_events <= 0 or max_bytes <= 0:
            raise ValueError(
                f"outbox bounds must be positive, got max_events={max_events} "
                f"max_bytes={max_bytes}"
            )
        self.path = path
        self.max_events = max_events
        self.max_bytes = max_bytes
        self._executor = ThreadPoolExecutor(
            max_workers=1, thread_name_prefix=f"outbox-{path.stem}"
        )
        self._closed = False
        # Touched only on the executor thread.
        self._conn: sqlite3.Connection | None = None
        self._depth = 0
        self._bytes = 0
        self._dropped = 0
        self._last_error: tuple[str, float] | None = None
        # An immutable snapshot replaced after every change, so `stats()` costs no SQLite call.
        self._stats = OutboxStats(depth=0, bytes=0, dropped=0, oldest_enqueued_at=None)

    async def put(self, topic: str, key: bytes, value: bytes) -> None:
        """Durably append one record; drops the oldest records if the bounds are exceeded."""
        await self.put_many([(topic, key, value)])

    async def put_many(self, records: Sequence[tuple[str, bytes, bytes]]) -> None:
        """Durably append (topic, key, value) records in order, in one transaction."""
        for topic, key, value in records:
            size = len(key) + len(value)
            if size > self.max_bytes:
                raise RecordTooLargeError(
                    f"record for topic {topic!r} is {size} bytes, larger than the outbox "
                    f"limit max_bytes={self.max_bytes}"
                )
        if records:
            await self._run(functools.partial(self._put_rows, list(records)))

    async def peek(self, limit: int) -> list[OutboxRecord]:
        """The oldest `limit` records, oldest first; nothing is removed."""
        return await self._run(functools.partial(self._peek, limit))

    async def delete(self, ids: Iterable[int]) -> None:
        """Remove the records with these ids; ids already gone (dropped meanwhile) are ignored."""
        id_list = list(ids)
        if id_list:
            await self._run(functools.partial(self._delete, id_list))

    async def record_error(self, error: str, at: float) -> None:
        """Durably note the publisher's latest delivery error (wall-clock `at`) for `stats()`."""
        await self._run(functools.partial(self._record_error, error[:MAX_ERROR_CHARS], at))

    async def stats(self) -> OutboxStats:
        """Depth, payload bytes, dropped total and oldest enqueue time; O(1) once open."""
        if self._conn is None:
            await self._run(lambda _conn: None)
        return self._stats

    async def close(self) -> None:
        """Close the file and stop the outbox's thread; later calls raise OutboxClosedError."""
        if self._closed:
            return
        self._closed = True
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(self._executor, self._close_connection)
        finally:
            self._executor.shutdown(wait=False)

    async def _run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        if self._closed:
            raise OutboxClosedError(f"outbox {self.path} is closed")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._with_connection, fn)

    def _with_connection(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        if self._conn is None:
            self._conn = self._open()
        return fn(self._conn)

    def _open(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # isolation_level=None: transactions are explicit (BEGIN IMMEDIATE below), never implicit.
        conn = sqlite3.connect(self.path, isolation_level=None)
        try:
            (mode,) = conn.execute(_WAL).fetchone()
            if mode != "wal":
                raise OutboxError(
                    f"{self.path}: SQLite refused WAL journal mode (got {mode!r}); put the "
                    "data directory on a local filesystem"
                )
            conn.execute(_SYNCHRONOUS_NORMAL)
            # Two processes sharing one file is a misconfiguration, but waiting a little beats
            # failing a put on the first lock conflict.
            conn.execute(_BUSY_TIMEOUT)
            for statement in _SCHEMA:
                conn.execute(statement)
            self._depth, self._bytes = conn.execute(_DEPTH_AND_BYTES).fetchone()
            (self._dropped,) = conn.execute(_DROPPED).fetchone()
            self._last_error = _last_error(conn)
            self._publish_stats(conn)
        except BaseException:
            conn.close()
            raise
        log.info(
            "outbox.opened path=%s depth=%d bytes=%d dropped=%d",
            self.path, self._depth, self._bytes, self._dropped,
        )
        return conn

    def _close_connection(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _put_rows(self, records: list[tuple[str, bytes, bytes]], conn: sqlite3.Connection) -> None:
        now = time.time()
        rows = [
            (topic, key, value, len(key) + len(value), now) for topic, key, value in records
        ]
        depth = self._depth + len(rows)
        size = self._bytes + sum(row[3] for row in rows)
        with _transaction(conn):
            conn.executemany(_INSERT, rows)
            dropped_rows, dropped_bytes = _drop_oldest(
                conn, depth - self.max_events, size - self.max_bytes
            )
            if dropped_rows:
                conn.execute(_COUNT_DROPPED, (dropped_rows,))
        self._depth = depth - dropped_rows
        self._bytes = size - dropped_bytes
        self._dropped += dropped_rows
        self._publish_stats(conn)

    def _record_error(self, error: str, at: float, conn: sqlite3.Connection) -> None:
        with _transaction(conn):
            conn.execute(_SET_META, (_LAST_ERROR, error, at))
        self._last_error = (error, at)
        self._publish_stats(conn)

    def _peek(self, limit: int, conn: sqlite3.Connection) -> list[OutboxRecord]:
        rows = conn.execute(_PEEK, (limit,)).fetchall()
        return [OutboxRecord(*row) for row in rows]

    def _delete(self, ids: list[int], conn: sqlite3.Connection) -> None:
        removed_rows = 0
        removed_bytes = 0
        with _transaction(conn):
            for start in range(0, len(ids), _MAX_PARAMS):
                chunk = ids[start : start + _MAX_PARAMS]
                placeholders = ",".join("?" * len(chunk))
                sizes = conn.execute(
                    f"DELETE FROM outbox WHERE id IN ({placeholders}) RETURNING size", chunk
                ).fetchall()
                removed_rows += len(sizes)
                removed_bytes += sum(size for (size,) in sizes)
        self._depth -= removed_rows
        self._bytes -= removed_bytes
        self._publish_stats(conn)

    def _publish_stats(self, conn: sqlite3.Connection) -> None:
        oldest = conn.execute(_OLDEST).fetchone()
        error, error_at = self._last_error or (None, None)
        self._stats = OutboxStats(
            depth=self._depth,
            bytes=self._bytes,
            dropped=self._dropped,
            oldest_enqueued_at=oldest[0] if oldest else None,
            last_error=error,
            last_error_at=error_at,
        )


def read_stats(path: Path, timeout: float = 2.0) -> OutboxStats:
    """The stats of the outbox file at `path`, read from outside the producer that owns it.

    The connection is read-only and in WAL mode readers never block the writer, so this is safe
    while the producer runs; a file of an older release (without the `meta` table) reads as
    having no recorded error. Blocking: call it from a command or an executor. Raises
    OutboxError when the file is not a readable outbox.
    """
    if not path.is_file():
        raise OutboxError(f"{path}: no such outbox file")
    try:
        conn = sqlite3.connect(
            f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=timeout,
            isolation_level=None,
        )
    except sqlite3.Error as exc:
        raise OutboxError(f"{path}: cannot open the outbox read-only ({exc})") from None
    try:
        # One read transaction: every figure comes from the same snapshot.
        conn.execute("BEGIN")
        depth, size = conn.execute(_DEPTH_AND_BYTES).fetchone()
        oldest = conn.execute(_OLDEST).fetchone()
        dropped = conn.execute(_DROPPED).fetchone()
        error, error_at = _last_error(conn) or (None, None)
        conn.execute("COMMIT")
    except sqlite3.Error as exc:
        raise OutboxError(f"{path}: not a readable outbox ({exc})") from None
    finally:
        conn.close()
    return OutboxStats(
        depth=depth, bytes=size, dropped=dropped[0] if dropped else 0,
        oldest_enqueued_at=oldest[0] if oldest else None,
        last_error=error, last_error_at=error_at,
    )


def _last_error(conn: sqlite3.Connection) -> tuple[str, float] | None:
    has_meta = conn.execute(_HAS_META).fetchone()
    if not has_meta:
        return None
    row = conn.execute(_GET_META, (_LAST_ERROR,)).fetchone()
    return (row[0], row[1]) if row else None


@contextmanager
def _transaction(conn: sqlite3.Connection) -> Iterator[None]:
    # IMMEDIATE takes the write lock up front, so a transaction never fails half-way on upgrade.
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def _drop_oldest(
    conn: sqlite3.Connection, excess_events: int, excess_bytes: int
) -> tuple[int, int]:
    """Delete the fewest oldest rows that bring both bounds back; returns (rows, bytes) removed."""
    if excess_events <= 0 and excess_bytes <= 0:
        return 0, 0
    rows = 0
    freed = 0
    last_id = 0
    cursor = conn.execute(_IDS_AND_SIZES)
    try:
        for row_id, size in cursor:
            rows += 1
            freed += size
            last_id = row_id
            if rows >= excess_events and freed >= excess_bytes:
                break
    finally:
        cursor.close()
    conn.execute(_DELETE_UP_TO, (last_id,))
    return rows, freed
