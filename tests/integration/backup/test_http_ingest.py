"""Seed 003 bodies over HTTP land in backup_jobs/backup_disks: totals, speed, ETA, percent."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson

from tests.integration.backup.support import job
from tests.integration.helpers import AppEnv, ahttp, tsdb_export, unique, wait_for

GIB = 1024**3


def seed_body(timestamp: str, disks: list[int], **overrides: Any) -> dict[str, Any]:
    """The body of seed 003's example, with the job's bytes left at the seed's buggy 0."""
    return {
        "job_type": "backup", "status": "running", "current_phase": "transferring",
        "bytes_transferred": 0, "total_bytes": 100 * GIB,
        "disks": [{"disk_index": i, "bytes_transferred": b, "status": "transferring"}
                  for i, b in enumerate(disks)],
        "timestamp": timestamp, **overrides,
    }


async def test_seed_bodies_become_job_and_disk_rows(app_env: AppEnv) -> None:
    worker = await app_env.start_worker()
    job_id = unique("job-")
    url = f"{worker.url}/api/v1/telemetry/backup/{job_id}"
    first = seed_body("2025-10-10T14:35:32Z", [10 * GIB, 0])
    second = seed_body("2025-10-10T14:35:42Z", [20 * GIB, 10 * GIB])
    for body in (first, second, first, second):  # re-POSTs and an out-of-order report
        status, answer = await ahttp("POST", url, body)
        assert status == 200, answer
        assert answer["status"] == "success"
        assert answer["message"] == "Telemetry received and processed"
        assert answer["timestamp"].endswith("Z")

    async def job_row() -> Any:
        row = await job(app_env, job_id)
        return row is not None and row["bytes_transferred"] == 30 * GIB and row

    row = await wait_for(job_row, 30, what="the job row with both disks summed")
    assert row["job_type"] == "backup"
    assert row["status"] == "running"
    assert row["current_phase"] == "transferring"
    assert row["total_bytes"] == 100 * GIB
    assert float(row["progress_percent"]) == 30.0
    assert row["transfer_speed_bps"] == 2 * GIB  # 20 GiB more in 10 s of event time
    assert row["eta_seconds"] == 35  # 70 GiB left at 2 GiB/s
    assert row["last_telemetry_at"].isoformat() == "2025-10-10T14:35:42+00:00"
    assert row["started_at"].isoformat() == "2025-10-10T14:35:32+00:00"
    disks = await app_env.pg(
        "SELECT disk_index, bytes_transferred, status FROM backup_disks "
        "WHERE job_id = $1 ORDER BY disk_index", job_id)
    assert [(d["disk_index"], d["bytes_transferred"]) for d in disks] == [
        (0, 20 * GIB), (1, 10 * GIB)]

    # The TSDB is shared by every test: the job id is unique to this run.
    selector = f'{{__name__=~"backup_job_.*", job_id="{job_id}"}}'
    series = await wait_for(
        lambda: asyncio.to_thread(tsdb_export, app_env.env["INFLUX_URL"], selector),
        30, what="the backup_job series in the TSDB")
    values = {s["metric"]["__name__"]: s["values"][-1] for s in series}
    assert values["backup_job_bytes"] == 30 * GIB
    assert values["backup_job_percent"] == 30.0
    assert values["backup_job_speed"] == 2 * GIB
    assert values["backup_job_eta"] == 35

    async def job_view() -> Any:
        status, view = await ahttp("GET", f"{worker.url}/jobs/{job_id}")
        return status == 200 and view["stale_level"] == "stalled" and view

    # The seed's timestamps are from 2025: the job has been silent far longer than stalled_after.
    view = await wait_for(job_view, 15, what="the job view, stalled")
    assert view["stale"] is True
    assert view["bytes_transferred"] == 30 * GIB
    assert len(view["disks"]) == 2
    status, missing = await ahttp("GET", f"{worker.url}/jobs/nope")
    assert status == 404
    assert "nope" in str(missing)


async def test_invalid_body_is_422_with_field_errors_and_a_dead_letter(app_env: AppEnv) -> None:
    worker = await app_env.start_worker()
    body = seed_body("not a time", [-5])
    status, answer = await ahttp("POST", f"{worker.url}/api/v1/telemetry/backup/job-bad", body)
    assert status == 422
    fields = {error["field"] for error in answer["errors"]}
    assert {"timestamp", "disks.0.bytes_transferred"} <= fields
    status, _ = await ahttp("POST", f"{worker.url}/api/v1/telemetry/archive/job-bad",
                            seed_body("2025-10-10T14:35:42Z", [1], job_type="archive"))
    assert status == 422
    letters = await app_env.consume_all(app_env.topic("deadletter"), expect=2)
    reasons = [orjson.loads(value)["error"] for _, value in letters]
    assert any("disks.0.bytes_transferred" in reason for reason in reasons)
    assert any("job_type" in reason for reason in reasons)
