"""A PostgreSQL outage during processing: afterwards the rows are complete and exact."""

from __future__ import annotations

import urllib.parse
from typing import Any

import asyncpg
import pytest

from producers.backup import progress_event
from schemas.backup import BackupProgress
from tests.integration.helpers import AppEnv, wait_for

BASE_SEQ = 1_760_000_000_000_000  # 2025-10-09, microseconds


ROUNDS = 10  # rounds 0-8 running, round 9 completes every job


def reports(jobs: int, rounds: range) -> list[BackupProgress]:
    """Round r of job j: seq (and event time, µs) BASE_SEQ + r s + j µs; disk 0 at r * 1000 + j
    bytes, disk 1 at r * 900, each of 10_000."""
    return [progress_event(
        job_id=f"job-{j}", job_type="backup",
        status="completed" if r == ROUNDS - 1 else "running", phase="transferring",
        seq=BASE_SEQ + r * 1_000_000 + j, total_bytes=20_000,
        disks={0: (r * 1000 + j, 10_000), 1: (r * 900, 10_000)}, source="test")
        for r in rounds for j in range(jobs)]


def expected_job(j: int) -> dict[str, Any]:
    """Job j's row, worked out from the reports above (not by the fold under test)."""
    last = ROUNDS - 1
    transferred = last * 1000 + j + last * 900
    # An ended job's speed is its average: bytes over the time from its first report to its end.
    return {"bytes_transferred": transferred, "total_bytes": 20_000, "progress_percent": 100.0,
            "transfer_speed_bps": transferred / last, "eta_seconds": 0,
            "last_seq": BASE_SEQ + last * 1_000_000 + j,
            "disks": {0: last * 1000 + j, 1: last * 900}}


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
    before, during = reports(20, range(5)), reports(20, range(5, ROUNDS))
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

        async def retrying() -> bool:  # the worker meets the outage and keeps retrying
            return worker.log().count("sink.retry sink=postgres") >= 2

        await wait_for(retrying, 30, what="the worker to retry its writes")
    finally:
        await admin(app_env, f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS true')

    async def complete() -> bool:
        found = await app_env.rows("SELECT count(*) AS n FROM backup_jobs "
                                    "WHERE status = 'completed'")
        return bool(found) and found[0]["n"] == 20
    await wait_for(complete, 60, what="every job completed after the outage")
    rows = await app_env.rows("SELECT * FROM backup_jobs ORDER BY job_id")
    assert sorted(row["job_id"] for row in rows) == sorted(f"job-{j}" for j in range(20))
    for row in rows:
        job = expected_job(int(row["job_id"].removeprefix("job-")))
        assert row["bytes_transferred"] == job["bytes_transferred"], row
        assert row["total_bytes"] == job["total_bytes"]
        assert float(row["progress_percent"]) == job["progress_percent"]
        assert row["transfer_speed_bps"] == pytest.approx(job["transfer_speed_bps"])
        assert row["eta_seconds"] == job["eta_seconds"]
        assert row["last_seq"] == job["last_seq"]
    disks = await app_env.rows("SELECT job_id, disk_index, bytes_transferred FROM backup_disks")
    assert len(disks) == 40
    for disk in disks:
        job = expected_job(int(disk["job_id"].removeprefix("job-")))
        assert disk["bytes_transferred"] == job["disks"][disk["disk_index"]], disk
