"""What the backup integration tests share: reading projections and topics."""

from __future__ import annotations

import time
from typing import Any

import asyncpg
from aiokafka import AIOKafkaConsumer

from tests.integration.helpers import AppEnv, unique


async def rows(app_env: AppEnv, sql: str, *args: Any) -> list[asyncpg.Record]:
    """Rows of a query; none while the worker has not migrated the schema yet."""
    try:
        return await app_env.pg(sql, *args)
    except asyncpg.exceptions.UndefinedTableError:
        return []


async def job(app_env: AppEnv, job_id: str) -> asyncpg.Record | None:
    found = await rows(app_env, "SELECT * FROM backup_jobs WHERE job_id = $1", job_id)
    return found[0] if found else None


async def read_topic(app_env: AppEnv, topic: str, expect: int, timeout: float = 30.0
                     ) -> list[tuple[bytes | None, bytes]]:
    """Records of a topic from the start until `expect` arrived (or the timeout).

    Subscribes with a fresh group: `AppEnv.consume_all` assigns partitions from the client's
    cluster metadata, which aiokafka 0.14 leaves empty for a consumer without a subscription.
    """
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=app_env.bootstrap,
                                group_id=unique("read-"), enable_auto_commit=False,
                                auto_offset_reset="earliest")
    await consumer.start()
    records: list[tuple[bytes | None, bytes]] = []
    try:
        deadline = time.monotonic() + timeout
        while len(records) < expect and time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=500)
            for messages in batch.values():
                records.extend((m.key, m.value) for m in messages)
    finally:
        await consumer.stop()
    return records
