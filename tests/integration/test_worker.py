"""The stream worker itself: starts, joins its consumer group, consumes into a table, answers."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient

from schemas.worker import WorkerHeartbeat
from tests.integration.helpers import AppEnv, ahttp, wait_for


async def test_worker_joins_group_consumes_into_a_table_and_answers_health(
    app_env: AppEnv,
) -> None:
    worker = await app_env.start_worker()

    status, health = await ahttp("GET", f"{worker.url}/health")
    assert status == 200
    assert set(health) == {"status", "time"}
    assert health["status"] == "healthy"
    assert abs(health["time"] - time.time()) < 5

    admin = AIOKafkaAdminClient(bootstrap_servers=app_env.bootstrap)
    await admin.start()
    try:
        [response] = await admin.describe_consumer_groups([app_env.env["FLEETSTREAM_APP_ID"]])
    finally:
        await admin.close()
    # DescribeGroups v2 rows: (error_code, group_id, state, protocol_type, protocol, members)
    [(error_code, _, state, _, _, members)] = response.groups
    assert error_code == 0
    assert state == "Stable"
    assert len(members) == 1

    worker_id = f"table-probe-{uuid.uuid4().hex[:6]}"
    beat = WorkerHeartbeat(event_id=uuid.uuid4(), source="test", ts=datetime.now(UTC),
                           worker_id=worker_id, cpu_usage=7.5, memory_usage=20.0)
    await app_env.produce(app_env.topic("heartbeat"), [(worker_id.encode(), beat.encode())])

    async def in_table() -> dict[str, Any] | None:
        status, body = await ahttp("GET", f"{worker.url}/telemetry/{worker_id}")
        return body if status == 200 else None

    telemetry = await wait_for(in_table, 30, what="the heartbeat in the workers table")
    assert telemetry is not None
    assert telemetry["cpu_usage"] == 7.5
