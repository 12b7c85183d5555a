"""PostgreSQL: a lazily opened asyncpg pool, the projections' sink, and schema migrations.

Why it exists: every PostgreSQL projection (backup jobs and disks, telemetry history, workers,
alerts) is written by `PostgresSink.write`: one transaction per batch, one statement per table,
columns as arrays (`streams.projections.rows`). `classify` is the one place that decides what a
PostgreSQL error means for the sink contract (`streams.pipeline.sink`), by SQLSTATE class:
- unavailable (retry, degraded): connection exceptions (08), insufficient resources (53),
  operator intervention (57: shutting down, cannot connect now, query cancelled), transaction
  rollback (40: serialization failure, deadlock), read-only transaction (25006, a standby during
  a failover), object not in prerequisite state (55: database not accepting connections, lock
  not available), and configuration errors that no event can cause and an operator can fix:
  bad credentials (28), missing database (3D), schema/privilege errors (42), internal errors (XX);
  also the client's own connection failures (OSError, timeouts, interface errors).
- rejected (bisect, dead-letter): data exceptions (22: out of range, NUL in text, bad encoding),
  integrity violations (23), program limits (54: a value too large to store).
Anything else is left unclassified for the runtime's bounded policy.
At start-up (`probe`, one connection) bad credentials (28) and a missing database (3D) are
`SinkMisconfigured` instead: the worker stops before it consumes anything.
Migrations are the project's own: numbered SQL files in `streams/migrations/`, applied once each,
in order, under an advisory lock so two workers starting together do not race.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from importlib import resources
from typing import Any

import asyncpg

from streams.pipeline.sink import (
    Sink,
    SinkMisconfigured,
    SinkRejected,
    SinkUnavailable,
    classified,
)
from streams.projections.rows import Row, Statement

log = logging.getLogger(__name__)

_MIGRATION_LOCK = 0x666C656574  # "fleet": the advisory lock key of the migration runner

_UNAVAILABLE_CLASSES = frozenset({"08", "53", "57", "40", "55", "28", "3D", "42", "XX"})
_UNAVAILABLE_STATES = frozenset({"25006"})
_REJECTED_CLASSES = frozenset({"22", "23", "54"})
_CLIENT_UNAVAILABLE = (OSError, asyncio.TimeoutError, asyncpg.exceptions.InterfaceError)
_MISCONFIGURED_AT_START = frozenset({"28", "3D"})


def classify(exc: BaseException) -> SinkUnavailable | SinkRejected | None:
    """What a PostgreSQL error means for the sink contract; None when it cannot tell."""
    state = getattr(exc, "sqlstate", None)
    if isinstance(exc, asyncpg.PostgresError) and isinstance(state, str):
        reason = f"PostgreSQL {state}: {exc}"
        if state in _UNAVAILABLE_STATES or state[:2] in _UNAVAILABLE_CLASSES:
            return SinkUnavailable(reason)
        if state[:2] in _REJECTED_CLASSES:
            return SinkRejected(reason)
        return None
    if isinstance(exc, _CLIENT_UNAVAILABLE):
        return SinkUnavailable(f"PostgreSQL unreachable: {type(exc).__name__}: {exc}")
    return None


async def probe(url: str, timeout: float = 10.0) -> None:
    """Open one connection to `url` and close it: the worker's start-up probe.

    Raises `SinkMisconfigured` when the server refuses the login (28: bad password, unknown role)
    or has no such database (3D), and `SinkUnavailable` when it cannot be reached.
    """
    try:
        with classified(classify):
            conn = await asyncpg.connect(url, timeout=timeout)
    except SinkUnavailable as exc:
        state = getattr(exc.__cause__, "sqlstate", None)
        if isinstance(state, str) and state[:2] in _MISCONFIGURED_AT_START:
            raise SinkMisconfigured(exc.reason) from exc.__cause__
        raise
    await conn.close()


def migrations() -> list[tuple[str, str]]:
    """(version, sql) of every migration file, in order."""
    files = resources.files("streams.migrations")
    found = sorted((f for f in files.iterdir() if f.name.endswith(".sql")), key=lambda f: f.name)
    return [(f.name.removesuffix(".sql"), f.read_text()) for f in found]


class Database:
    """The projections' PostgreSQL database: one pool per worker, migrated before first use."""

    def __init__(self, url: str, *, min_size: int = 1, max_size: int = 4) -> None:
        self.url = url
        self._min_size = min_size
        self._max_size = max_size
        self._pool: asyncpg.Pool | None = None
        self._opening = asyncio.Lock()

    async def pool(self) -> asyncpg.Pool:
        if self._pool is not None:
            return self._pool
        async with self._opening:
            if self._pool is None:
                with classified(classify):
                    # The schema is migrated before the first write of this process.
                    await self.migrate()
                    self._pool = await asyncpg.create_pool(
                        self.url, min_size=self._min_size, max_size=self._max_size,
                        command_timeout=30)
        return self._pool

    async def write(self, rows: Sequence[Row]) -> None:
        """Every row in one transaction, one statement execution per `Statement`."""
        by_statement: dict[Statement, list[tuple[Any, ...]]] = {}
        for row in rows:
            by_statement.setdefault(row.statement, []).append(row.values)
        if not by_statement:
            return
        pool = await self.pool()
        try:
            with classified(classify):
                async with pool.acquire() as conn, conn.transaction():
                    for statement, values in sorted(by_statement.items(),
                                                    key=lambda item: item[0].order):
                        columns = [list(column) for column in zip(*values, strict=True)]
                        await conn.execute(statement.sql, *columns)
        except SinkUnavailable:
            # Open sessions may be the cause (a standby's read-only ones after a failover, or
            # ones the server is ending): the next attempt starts on fresh connections.
            await pool.expire_connections()
            raise

    async def fetch(self, sql: str, *args: Any) -> list[asyncpg.Record]:
        pool = await self.pool()
        with classified(classify):
            async with pool.acquire() as conn:
                rows: list[asyncpg.Record] = await conn.fetch(sql, *args)
                return rows

    async def migrate(self) -> list[str]:
        """Apply pending migrations; returns the versions applied now."""
        conn = await asyncpg.connect(self.url)
        applied_now: list[str] = []
        try:
            await conn.execute("SELECT pg_advisory_lock($1)", _MIGRATION_LOCK)
            await conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                " version text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())")
            done = {r["version"] for r in await conn.fetch("SELECT version FROM schema_migrations")}
            for version, sql in migrations():
                if version in done:
                    continue
                async with conn.transaction():
                    await conn.execute(sql)
                    await conn.execute(
                        "INSERT INTO schema_migrations (version) VALUES ($1)", version)
                applied_now.append(version)
                log.info("postgres.migrated version=%s", version)
        finally:
            await conn.execute("SELECT pg_advisory_unlock($1)", _MIGRATION_LOCK)
            await conn.close()
        return applied_now


class PostgresSink(Sink):
    """The PostgreSQL projections of one pipeline (`name` shows in health, metrics, reasons)."""

    def __init__(self, database: Database, name: str = "postgres") -> None:
        self.database = database
        self.name = name

    async def write(self, records: Sequence[Any]) -> None:
        await self.database.write(records)
