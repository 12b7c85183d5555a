"""A PostgreSQL outage during processing: afterwards the rows are complete and exact."""

from __future__ import annotations

import asyncio
import urllib.parse

import asyncpg

from producers.backup import progress_event
from schemas.backup import BackupProgress
from streams.domain.backup import State, apply_events
from tests.integration.helpers import AppEnv, wait_for

BASE_SEQ = 1_760_000_000_000_000  # 2025-10-09, microseconds


def reports(jobs: int, rounds: range) -> list[BackupProgress]:
    return [progress_event(
        job_id=f"job-{j}", job_type="backup",
        status="completed" if r == 9 else "running", phase="transferring",
        seq=BASE_SEQ + r * 1_000_000 + j, total_bytes=20_000,
        disks={0: (r * 1000 + j, 10_000), 1: (r * 900, 10_000)}, source="test")
        for r in rounds for j in range(jobs)]


async def admin(app_env: AppEnv, sql: str) -> None:
    """Run SQL on the cluster's main database (the test's own database may refuse us)."""
    url = urllib.parse.urlsplit(app_env.database_url)
    conn = await asyncpg.connect(urllib.parse.urlunsplit(url._replace(path="/fleetstream")))
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def test_rows_are_complete_and_exact_after_a_database_outage(app_env: AppEnv) -> None:
    worker = await app_env.start_worker()
    topic = app_env.topic("backup")
    before, during = reports(20, range(5)), reports(20, range(5, 10))
    await app_env.produce(topic, [(e.job_id.encode(), e.encode()) for e in before])

    async def first_half() -> bool:
        found = await app_env.rows("SELECT count(*) AS n FROM backup_jobs WHERE last_seq >= $1",
                           BASE_SEQ + 4_000_000)
        return bool(found) and found[0]["n"] == 20
    await wait_for(first_half, 30, what="the rows of the first half")

    database = urllib.parse.urlsplit(app_env.database_url).path.lstrip("/")
    await admin(app_env, f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS false')
    await admin(app_env, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                         f"WHERE datname = '{database}'")
    try:
        await app_env.produce(topic, [(e.job_id.encode(), e.encode()) for e in during])
        await asyncio.sleep(4)  # the worker meets the outage and keeps retrying
        assert "sink.retry sink=postgres" in worker.log()
    finally:
        await admin(app_env, f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS true')

    expected: dict[str, State] = {}
    for event in before + during:
        folded = apply_events(expected.get(event.job_id), [event])
        assert folded is not None
        expected[event.job_id] = folded

    async def complete() -> bool:
        found = await app_env.rows("SELECT count(*) AS n FROM backup_jobs "
                                    "WHERE status = 'completed'")
        return bool(found) and found[0]["n"] == 20
    await wait_for(complete, 60, what="every job completed after the outage")
    for row in await app_env.rows("SELECT * FROM backup_jobs"):
        job = expected[row["job_id"]]
        assert row["bytes_transferred"] == job["bytes_transferred"]
        assert row["total_bytes"] == job["total_bytes"] == 20_000
        assert float(row["progress_percent"]) == 100.0
        assert row["transfer_speed_bps"] == job["transfer_speed_bps"]
        assert row["last_seq"] == job["version"]
    disks = await app_env.rows("SELECT job_id, disk_index, bytes_transferred FROM backup_disks")
    assert len(disks) == 40
    assert all(d["bytes_transferred"] == expected[d["job_id"]]["disks"][str(d["disk_index"])]
               ["bytes_transferred"] for d in disks)
