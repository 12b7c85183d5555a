"""`fleetstream replay`: projections rebuilt from the raw topics equal the live ones."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg

from tests.integration.helpers import AppEnv, ahttp, unique, wait_for

GIB = 1024**3
JOBS = 5
TABLES = {"backup_jobs": "job_id", "backup_disks": "job_id, disk_index"}


def report(second: int, disk_bytes: list[int], status: str = "running") -> dict[str, Any]:
    return {"job_type": "backup", "status": status, "current_phase": "transferring",
            "bytes_transferred": 0, "total_bytes": 4 * GIB,
            "disks": [{"disk_index": i, "bytes_transferred": b, "status": "transferring"}
                      for i, b in enumerate(disk_bytes)],
            "timestamp": f"2025-10-10T14:35:{second:02d}Z"}


async def snapshot(app_env: AppEnv) -> dict[str, list[asyncpg.Record]]:
    return {table: await app_env.pg(f"SELECT * FROM {table} ORDER BY {order}")
            for table, order in TABLES.items()}


async def test_replay_rebuilds_identical_rows(app_env: AppEnv) -> None:
    worker = await app_env.start_worker()
    jobs = [unique("replay-job-") for _ in range(JOBS)]
    for job_id in jobs:
        url = f"{worker.url}/api/v1/telemetry/backup/{job_id}"
        for second, disks, status in ((10, [GIB, 0], "running"), (20, [2 * GIB, GIB], "running"),
                                      (30, [2 * GIB, 2 * GIB], "completed")):
            status_code, answer = await ahttp("POST", url, report(second, disks, status))
            assert status_code == 200, answer

    async def all_completed() -> bool:
        try:
            done = await app_env.pg("SELECT count(*) FROM backup_jobs WHERE status = 'completed'")
        except asyncpg.exceptions.UndefinedTableError:  # the worker migrates on first write
            return False
        return bool(done[0][0] == JOBS)

    await wait_for(all_completed, 60, what="every job completed in PostgreSQL")
    live = await snapshot(app_env)
    worker.stop()

    await app_env.pg("TRUNCATE backup_jobs, backup_disks")
    result = await asyncio.to_thread(app_env.run_cli, "replay", "--timeout", "120", timeout=180)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "replay complete" in result.stdout

    rebuilt = await snapshot(app_env)
    assert len(rebuilt["backup_jobs"]) == JOBS
    assert rebuilt == live
