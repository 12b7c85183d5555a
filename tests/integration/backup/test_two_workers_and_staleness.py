"""Two workers: views answer for every job, a worker stop hands over, stale alerts never repeat."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import orjson

from tests.integration.helpers import AppEnv, ahttp, wait_for

FAST_STALENESS = {"FLEETSTREAM_STALE_AFTER_SECONDS": "3",
                  "FLEETSTREAM_STALLED_AFTER_SECONDS": "6",
                  "FLEETSTREAM_SWEEP_INTERVAL_SECONDS": "0.5"}
JOBS = [f"job-{i}" for i in range(8)]


def body_now(done: int) -> dict[str, Any]:
    return {"job_type": "backup", "status": "running", "current_phase": "transferring",
            "bytes_transferred": 0, "total_bytes": 1000,
            "disks": [{"disk_index": 0, "bytes_transferred": done, "status": "transferring"}],
            "timestamp": datetime.now(UTC).isoformat().replace("+00:00", "Z")}


async def alert_rows(app_env: AppEnv) -> list[Any]:
    return await app_env.rows("SELECT kind, subject, raised_at, cleared_at FROM alerts "
                               "WHERE kind LIKE 'backup.%' ORDER BY subject, raised_at")


async def test_two_workers_views_takeover_and_exactly_one_alert_per_transition(
        app_env: AppEnv) -> None:
    first = await app_env.start_worker(**FAST_STALENESS)
    second = await app_env.start_worker(**FAST_STALENESS)
    for job_id in JOBS:
        status, answer = await ahttp(
            "POST", f"{first.url}/api/v1/telemetry/backup/{job_id}", body_now(100))
        assert status == 200, answer

    for worker in (first, second):
        async def listed(url: str = worker.url) -> bool:
            status, answer = await ahttp("GET", f"{url}/jobs")
            return status == 200 and sorted(j["job_id"] for j in answer["jobs"]) == JOBS
        await wait_for(listed, 30, what=f"every job listed by {worker.url}")
        for job_id in JOBS:
            status, job = await ahttp("GET", f"{worker.url}/jobs/{job_id}")
            assert status == 200 and job["job_id"] == job_id, job

    parts = [await ahttp("GET", f"{w.url}/jobs?scope=local") for w in (first, second)]
    assert all(part for _, part in parts), "each worker owns some of the jobs"
    assert sorted([*parts[0][1], *parts[1][1]]) == JOBS

    async def all_stalled() -> bool:
        found = await alert_rows(app_env)
        return len(found) == 2 * len(JOBS)
    await wait_for(all_stalled, 30, what="a stale and a stalled alert for every job")
    status, job = await ahttp("GET", f"{second.url}/jobs/job-0")
    assert job["stale"] is True and job["stale_level"] == "stalled"
    stalled = await app_env.rows("SELECT count(*) AS n FROM backup_jobs "
                                  "WHERE stale_since IS NOT NULL")
    assert stalled[0]["n"] == len(JOBS)

    second.stop()

    async def takeover() -> bool:
        status, answer = await ahttp("GET", f"{first.url}/jobs")
        return status == 200 and answer["count"] == len(JOBS)
    await wait_for(takeover, 60, what="the remaining worker to answer for every job")
    await asyncio.sleep(3)  # several sweeps of the worker that took over
    alerts = await app_env.consume_all(app_env.topic("alerts"), expect=2 * len(JOBS) + 1,
                              timeout=5)
    kinds = sorted((orjson.loads(v)["kind"], orjson.loads(v)["subject"]) for _, v in alerts)
    assert kinds == sorted((k, j) for j in JOBS for k in ("backup.stale", "backup.stalled"))

    status, answer = await ahttp("POST", f"{first.url}/api/v1/telemetry/backup/job-3",
                                 body_now(200))
    assert status == 200, answer

    async def cleared() -> bool:
        # The first spell's two alerts; job-3 may go stale again 3 s later, a new spell.
        found = [r for r in await alert_rows(app_env) if r["subject"] == "job-3"][:2]
        return len(found) == 2 and all(r["cleared_at"] is not None for r in found)
    await wait_for(cleared, 30, what="both alerts of job-3 cleared by fresh telemetry")
    status, job = await ahttp("GET", f"{first.url}/jobs/job-3")
    assert job["stale"] is False and job["bytes_transferred"] == 200
