"""`fleetstream workers forget ID` / `DELETE /workers/{id}`: a worker leaves the live table and
its row goes (seed 004: "check for worker leaks"); a heartbeat afterwards registers it again."""

from __future__ import annotations

from tests.integration.helpers import AppEnv, ahttp, unique, wait_for
from tests.integration.worker.test_heartbeats import heartbeat_body


async def test_a_forgotten_worker_leaves_table_and_row_until_it_beats_again(
        app_env: AppEnv) -> None:
    worker = await app_env.start_worker()
    worker_id = unique("leaked-")
    status, answer = await ahttp("POST", f"{worker.url}/api/heartbeat", heartbeat_body(worker_id))
    assert status == 202, answer

    async def row() -> list[object]:
        return [tuple(r) for r in await app_env.rows(
            "SELECT worker_id FROM workers WHERE worker_id = $1", worker_id)]

    await wait_for(row, 30, what="the worker's row")
    result = app_env.run_cli("workers", "forget", worker_id)
    assert result.returncode == 0, result.stderr
    assert f"worker {worker_id} unregistered" in result.stdout

    async def gone() -> bool:
        code, _ = await ahttp("GET", f"{worker.url}/telemetry/{worker_id}")
        return code == 404 and not await row()

    await wait_for(gone, 30, what="the worker gone from the table and from PostgreSQL")
    listed = await ahttp("GET", f"{worker.url}/workers")
    assert worker_id not in listed[1]

    status, _ = await ahttp("POST", f"{worker.url}/api/heartbeat", heartbeat_body(worker_id))
    assert status == 202
    await wait_for(row, 30, what="the worker registered again by a new heartbeat")


async def test_forgetting_needs_the_token_and_a_valid_id(app_env: AppEnv) -> None:
    worker = await app_env.start_worker(FLEETSTREAM_INGEST_TOKEN="s3cret")
    status, _ = await ahttp("DELETE", f"{worker.url}/workers/w1")
    assert status == 401
    status, answer = await ahttp("DELETE", f"{worker.url}/workers/a%01b",
                                 headers={"Authorization": "Bearer s3cret"})
    assert status == 422, answer
