"""Sink outages under load, on real servers: the TSDB stopped for a minute, PostgreSQL read-only.

- TSDB down: PostgreSQL rows stay current (the TSDB is fed from the points topic by a pipeline
  of its own), `/health` says which sink is degraded, and once the TSDB is back it has every
  point, exactly once per snapshot.
- PostgreSQL read-only (`default_transaction_read_only`, as a standby during a failover): its
  data errors are not taken for rejections: nothing is dead-lettered, the rows are complete after.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg

from fleetstream.stack.services import Ports, VictoriaMetrics
from tests.integration.helpers import AppEnv, free_port, http, tsdb_export, unique, wait_for
from tests.integration.test_poison import backup, encoded, snapshot

TSDB_DOWN_SECONDS = 60
READ_ONLY_SECONDS = 30


def _iso(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


async def _snapshots(app_env: AppEnv, node: str, start: datetime, count: int,
                     every: float) -> None:
    """`count` snapshots of `node`, one event second apart, sent `every` seconds."""
    for i in range(count):
        body = snapshot(node, ts=_iso(start + timedelta(seconds=i)), process_count=i)
        await app_env.produce(app_env.topic("node"), [(node.encode(), encoded(body))])
        await asyncio.sleep(every)


async def test_a_tsdb_outage_holds_back_nothing_but_the_tsdb_and_loses_no_point(
    app_env: AppEnv, tmp_path: Path,
) -> None:
    tsdb = VictoriaMetrics(tmp_path / "own-tsdb", Ports(tsdb=free_port()))
    tsdb.start()
    url = f"http://127.0.0.1:{tsdb.port}"
    try:
        worker = await app_env.start_worker(INFLUX_URL=url)
        node = unique("node-")
        start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
        await _snapshots(app_env, node, start, 3, 0)

        def points() -> int:
            series = tsdb_export(url, f'{{__name__="node_process_count",node_id="{node}"}}')
            return sum(len(s["values"]) for s in series)

        await wait_for(lambda: asyncio.to_thread(lambda: points() == 3), timeout=60,
                       what="the first points")
        tsdb.process.stop()  # SIGTERM, then the port is closed: the TSDB is gone
        down_at = time.monotonic()
        load = asyncio.create_task(_snapshots(app_env, node, start + timedelta(seconds=3),
                                              TSDB_DOWN_SECONDS, 1.0))

        async def degraded() -> bool:
            _, health = await asyncio.to_thread(http, "GET", f"{worker.url}/health")
            return health.get("status") == "degraded" and any(
                d["sink"] == "tsdb" for d in health.get("degraded", []))

        await wait_for(degraded, timeout=30, what="/health to report the TSDB degraded")

        async def rows() -> int:
            found = await app_env.rows("SELECT count(*) AS n FROM telemetry_history "
                                       "WHERE node_id = $1", node)
            return int(found[0]["n"]) if found else 0

        # PostgreSQL keeps up while the TSDB is down: rows follow the snapshots within seconds.
        for _ in range(3):
            await asyncio.sleep(TSDB_DOWN_SECONDS / 4)
            sent = 3 + min(TSDB_DOWN_SECONDS, int(time.monotonic() - down_at))
            assert await rows() >= sent - 5, "PostgreSQL fell behind the TSDB outage"
        await load
        tsdb.start()
        total = 3 + TSDB_DOWN_SECONDS

        async def every_row() -> bool:
            return await rows() == total

        await wait_for(every_row, timeout=60, what="every history row")
        await wait_for(lambda: asyncio.to_thread(lambda: points() == total), timeout=120,
                       what="every point in the TSDB after it came back")
        await wait_for(lambda: asyncio.to_thread(
            lambda: http("GET", f"{worker.url}/health")[1]["status"] == "healthy"),
            timeout=30, what="/health healthy again")
        assert not await app_env.consume_json("deadletter", expect=1, timeout=3)
    finally:
        tsdb.stop()


async def test_a_read_only_database_is_waited_out_and_nothing_is_dead_lettered(
    app_env: AppEnv,
) -> None:
    await app_env.start_worker()
    jobs = [unique("job-") for _ in range(20)]
    await app_env.produce(app_env.topic("backup"),
                          [(j.encode(), encoded(backup(j, seq=1))) for j in jobs])

    async def at_seq(seq: int) -> bool:
        found = await app_env.rows("SELECT count(*) AS n FROM backup_jobs WHERE last_seq = $1",
                                   seq)
        return bool(found) and int(found[0]["n"]) == len(jobs)

    await wait_for(lambda: at_seq(1), timeout=60, what="the first rows")
    database = app_env.database_url.rsplit("/", 1)[1]
    await app_env.pg(f'ALTER DATABASE "{database}" SET default_transaction_read_only = on')
    await app_env.pg("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                     "WHERE datname = $1 AND pid <> pg_backend_pid()", database)
    began = time.monotonic()
    for seq in range(2, 6):
        await app_env.produce(app_env.topic("backup"), [
            (j.encode(), encoded(backup(j, seq=seq, disks=[
                {"disk_index": 0, "bytes_transferred": 100 * seq, "total_bytes": 1000}])))
            for j in jobs])
        await asyncio.sleep(READ_ONLY_SECONDS / 5)
    assert not await at_seq(5), "rows were written to a read-only database"
    await asyncio.sleep(max(0.0, READ_ONLY_SECONDS - (time.monotonic() - began)))
    conn = await asyncpg.connect(app_env.database_url)
    try:  # this session's own default is read-only too: make it writable first
        await conn.execute("SET SESSION CHARACTERISTICS AS TRANSACTION READ WRITE")
        await conn.execute(f'ALTER DATABASE "{database}" SET default_transaction_read_only = off')
    finally:
        await conn.close()
    await wait_for(lambda: at_seq(5), timeout=90, what="every row after the database is writable")
    found = await app_env.rows("SELECT min(bytes_transferred) AS lo, max(bytes_transferred) AS hi "
                               "FROM backup_jobs WHERE job_id = ANY($1)", jobs)
    assert (found[0]["lo"], found[0]["hi"]) == (500, 500)
    assert not await app_env.consume_json("deadletter", expect=1, timeout=3)
