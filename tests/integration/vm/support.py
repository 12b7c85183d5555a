"""Helpers of the VM integration tests: reading `telemetry.vm`, running the agent, the VM view."""

from __future__ import annotations

import asyncio
import subprocess
import time
from typing import Any

from aiokafka import AIOKafkaConsumer

from tests.integration.helpers import AppEnv, ahttp

TEST_DOMAIN_UUID = "6695eb01-f6a4-8304-79aa-97f2502e193f"  # domain `test` of test:///default


async def read_topic(app_env: AppEnv, name: str, expect: int, timeout: float = 20.0
                     ) -> list[tuple[bytes | None, bytes]]:
    """(key, value) of a fleetstream topic from its start until `expect` arrived or `timeout`.

    Subscribes instead of `AppEnv.consume_all`: a consumer without a subscription never learns
    the topic's partitions from Kafka 4 (aiokafka asks for no topics), so that one times out.
    """
    consumer = AIOKafkaConsumer(app_env.topic(name), bootstrap_servers=app_env.bootstrap,
                                group_id=None, enable_auto_commit=False,
                                auto_offset_reset="earliest")
    await consumer.start()
    records: list[tuple[bytes | None, bytes]] = []
    try:
        deadline = time.monotonic() + timeout
        while len(records) < expect and time.monotonic() < deadline:
            for messages in (await consumer.getmany(timeout_ms=300)).values():
                records.extend((m.key, m.value) for m in messages)
    finally:
        await consumer.stop()
    return records


async def vm_agent_once(app_env: AppEnv,
                        uri: str = "test:///default") -> subprocess.CompletedProcess[str]:
    """`fleetstream vm-agent --once` against `uri`; its flush waits at most 5 s for Kafka."""
    return await asyncio.to_thread(app_env.run_cli, "vm-agent", "--once", "--flush-timeout", "5",
                                   LIBVIRT_URI=uri)


async def vms(url: str) -> dict[str, Any]:
    """`GET /vms` of a worker: vm_uuid -> latest figures."""
    status, body = await ahttp("GET", f"{url}/vms")
    assert status == 200, body
    assert body["count"] == len(body["vms"])
    result: dict[str, Any] = body["vms"]
    return result
