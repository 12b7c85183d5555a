"""PostgreSQL: a lazily opened asyncpg pool, batched idempotent writes, and schema migrations.

Why it exists: every PostgreSQL projection (backup jobs and disks, telemetry history, workers,
alerts) writes through `Database.write`, which turns connection failures into
`SinkUnavailable` for the shared retry policy. Migrations are the project's own: numbered SQL files
in `streams/migrations/`, applied once each, in order, under an advisory lock so two workers
starting together do not race.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Sequence
from importlib import resources
from typing import Any

import asyncpg

from streams.sinks.base import SinkUnavailable, write_durably

log = logging.getLogger(__name__)

_MIGRATION_LOCK = 0x666C656574  # "fleet": the advisory lock key of the migration runner

_UNAVAILABLE = (
    OSError,
    asyncio.TimeoutError,
    asyncpg.exceptions.ConnectionDoesNotExistError,
    asyncpg.exceptions.CannotConnectNowError,
    asyncpg.exceptions.InterfaceError,
    asyncpg.exceptions.AdminShutdownError,
    asyncpg.exceptions.CrashShutdownError,
    asyncpg.exceptions.TooManyConnectionsError,
    # "database ... is not currently accepting connections" (ALLOW_CONNECTIONS false, a restore).
    asyncpg.exceptions.ObjectNotInPrerequisiteStateError,
)


def migrations() -> list[tuple[str, str]]:
    """(version, sql) of every migration file, in order."""
    files = resources.files("streams.migrations")
    found = sorted((f for f in files.iterdir() if f.name.endswith(".sql")), key=lambda f: f.name)
    return [(f.name.removesuffix(".sql"), f.read_text()) for f in found]


class Database:
    """The projections' PostgreSQL database."""

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
                try:
                    # The schema is migrated before the first write of this process.
                    await self.migrate()
                    self._pool = await asyncpg.create_pool(
                        self.url, min_size=self._min_size, max_size=self._max_size,
                        command_timeout=30)
                except _UNAVAILABLE as exc:
                    raise SinkUnavailable(f"cannot connect to PostgreSQL: {exc}") from exc
        return self._pool

    async def write(self, statements: Iterable[tuple[str, Sequence[Sequence[Any]]]], *,
                    what: str) -> None:
        """Write several statements' rows in one transaction, retrying through outages."""
        batch = [(sql, rows) for sql, rows in statements if rows]
        if not batch:
            return

        async def attempt() -> None:
            pool = await self.pool()
            try:
                async with pool.acquire() as conn, conn.transaction():
                    for sql, rows in batch:
                        await conn.executemany(sql, rows)
            except _UNAVAILABLE as exc:
                raise SinkUnavailable(f"PostgreSQL write failed: {exc}") from exc

        await write_durably(attempt, what=what)

    async def fetch(self, sql: str, *args: Any) -> list[asyncpg.Record]:
        pool = await self.pool()
        try:
            async with pool.acquire() as conn:
                rows: list[asyncpg.Record] = await conn.fetch(sql, *args)
                return rows
        except _UNAVAILABLE as exc:
            raise SinkUnavailable(f"PostgreSQL query failed: {exc}") from exc

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
