"""Shared helpers of the node integration tests."""

from __future__ import annotations

import time
from typing import Any

import asyncpg
import orjson
from aiokafka import AIOKafkaConsumer

from tests.integration.helpers import AppEnv


async def history(app_env: AppEnv, node_id: str) -> list[asyncpg.Record]:
    """The node's telemetry_history rows, oldest first (none before the table exists)."""
    try:
        return await app_env.pg(
            "SELECT * FROM telemetry_history WHERE node_id = $1 ORDER BY timestamp", node_id)
    except asyncpg.exceptions.UndefinedTableError:  # migrated on the worker's first write
        return []


async def history_of_at_least(app_env: AppEnv, node_id: str, count: int
                              ) -> list[asyncpg.Record]:
    """The node's rows once there are at least `count` of them (empty before: for wait_for)."""
    rows = await history(app_env, node_id)
    return rows if len(rows) >= count else []


async def read_topic(bootstrap: str, topic: str, expect: int, timeout: float = 15.0
                     ) -> list[dict[str, Any]]:
    """JSON values of a topic from its start until `expect` arrived or `timeout` passed.

    Group-less subscription: `AppEnv.consume_all` waits on `partitions_for_topic`, which aiokafka
    leaves empty for a consumer without a subscription.
    """
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=None,
                                enable_auto_commit=False, auto_offset_reset="earliest")
    await consumer.start()
    values: list[dict[str, Any]] = []
    try:
        deadline = time.monotonic() + timeout
        while len(values) < expect and time.monotonic() < deadline:
            for messages in (await consumer.getmany(timeout_ms=300)).values():
                values.extend(orjson.loads(m.value) for m in messages)
    finally:
        await consumer.stop()
    return values
