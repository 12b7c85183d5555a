"""HTTP ingest answers 503 while Kafka does not acknowledge, and accepts again once it is back.

Success must mean "Kafka has it" (the README's promise): a 200 while the broker is down would be
an event lost. The test stops its own broker (the shared one must never be stopped).
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from fleetstream.stack.services import Kafka
from tests.integration.backup.support import job
from tests.integration.helpers import AppEnv, ahttp, unique, wait_for


def body(done: int) -> dict[str, Any]:
    return {"job_type": "backup", "status": "running", "current_phase": "transferring",
            "bytes_transferred": done, "total_bytes": 1000,
            "disks": [{"disk_index": 0, "bytes_transferred": done, "status": "transferring"}],
            "timestamp": datetime.now(UTC).isoformat().replace("+00:00", "Z")}


async def test_ingest_answers_503_while_kafka_is_down_and_200_after(
        private_kafka: Kafka, app_env: AppEnv) -> None:  # this order: see `private_kafka`
    bootstrap = private_kafka.env()["KAFKA_BOOTSTRAP_SERVERS"]
    worker = await app_env.start_worker(KAFKA_BOOTSTRAP_SERVERS=bootstrap)
    job_id = unique("ingest-")
    url = f"{worker.url}/api/v1/telemetry/backup/{job_id}"
    status, answer = await ahttp("POST", url, body(100))
    assert status == 200, answer

    await asyncio.to_thread(private_kafka.stop)
    try:
        status, answer = await ahttp("POST", url, body(200), timeout=60)
        assert status == 503, (status, answer)
        assert "not acknowledged by Kafka" in str(answer)
    finally:
        await asyncio.to_thread(private_kafka.start)

    async def accepted() -> bool:
        status, _ = await ahttp("POST", url, body(300), timeout=60)
        return status == 200

    await wait_for(accepted, 120, 2.0, what="ingest to accept again once Kafka is back")

    async def projected() -> bool:
        row = await job(app_env, job_id)
        return row is not None and row["bytes_transferred"] == 300

    await wait_for(projected, 60, what="the accepted report in PostgreSQL")
