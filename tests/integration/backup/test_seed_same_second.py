"""Seed 003 clients over HTTP: reports within one second all count, and a job's first report
shows the speed and ETA the client sent (issue 10 items 10 and 11)."""

from __future__ import annotations

from typing import Any

from tests.integration.backup.support import job
from tests.integration.backup.test_http_ingest import seed_body
from tests.integration.helpers import AppEnv, ahttp, unique, wait_for

GIB = 1024**3
SECOND = "2025-10-10T14:35:42Z"


async def post(url: str, job_id: str, body: dict[str, Any]) -> None:
    status, answer = await ahttp("POST", f"{url}/api/v1/telemetry/backup/{job_id}", body)
    assert status == 200, answer


async def view(url: str, job_id: str) -> dict[str, Any] | None:
    status, body = await ahttp("GET", f"{url}/jobs/{job_id}")
    return body if status == 200 else None


async def test_two_reports_in_one_second_both_count_in_either_order(app_env: AppEnv) -> None:
    worker = await app_env.start_worker()
    one, two = seed_body(SECOND, [1 * GIB]), seed_body(SECOND, [2 * GIB])
    forward, backward = unique("job-fwd-"), unique("job-bwd-")
    for job_id, bodies in ((forward, (one, two)), (backward, (two, one))):
        for body in bodies:
            await post(worker.url, job_id, body)
    await post(worker.url, forward, one)  # an exact re-send changes nothing

    async def both_at_two_gib() -> list[Any]:
        rows = [await job(app_env, job_id) for job_id in (forward, backward)]
        done = all(r is not None and r["bytes_transferred"] == 2 * GIB for r in rows)
        return rows if done else []

    rows = await wait_for(both_at_two_gib, 30, what="both jobs at the newer 2 GiB")
    for row in rows:
        assert float(row["progress_percent"]) == 2.0
        assert row["last_telemetry_at"].isoformat() == "2025-10-10T14:35:42+00:00"
    disks = await app_env.pg(
        "SELECT job_id, bytes_transferred FROM backup_disks WHERE job_id = ANY($1::text[]) "
        "ORDER BY job_id", [forward, backward])
    assert [d["bytes_transferred"] for d in disks] == [2 * GIB, 2 * GIB]
    for job_id in (forward, backward):
        shown = await view(worker.url, job_id)
        assert shown is not None
        assert shown["bytes_transferred"] == 2 * GIB and shown["disks"][0]["bytes_transferred"] \
            == 2 * GIB, shown


async def test_the_first_report_shows_the_clients_speed_and_eta(app_env: AppEnv) -> None:
    worker = await app_env.start_worker()
    job_id = unique("job-first-")
    await post(worker.url, job_id, seed_body(SECOND, [30 * GIB], transfer_speed_bps=3 * GIB,
                                             eta_seconds=23))

    async def shown() -> dict[str, Any]:
        return await view(worker.url, job_id) or {}

    first = await wait_for(shown, 30, what="the job's view")
    assert (first["transfer_speed_bps"], first["eta_seconds"]) == (3 * GIB, 23), first
    row = await wait_for(lambda: job(app_env, job_id), 30, what="the job row")
    assert row is not None and (row["transfer_speed_bps"], row["eta_seconds"]) == (3 * GIB, 23)

    # Ten seconds later with 20 GiB more: the stream's own estimate (2 GiB/s) takes over.
    await post(worker.url, job_id, seed_body("2025-10-10T14:35:52Z", [50 * GIB],
                                             transfer_speed_bps=9 * GIB, eta_seconds=1))

    async def own_estimate() -> dict[str, Any]:
        current = await view(worker.url, job_id) or {}
        return current if current.get("bytes_transferred") == 50 * GIB else {}

    later = await wait_for(own_estimate, 30, what="the second report in the view")
    assert (later["transfer_speed_bps"], later["eta_seconds"]) == (2 * GIB, 25), later
