"""Fixtures of the operator-command tests: an isolated topic prefix on the real broker, no worker.

The commands under test read and write Kafka directly, so a test creates the topics it needs
itself (the broker does not auto-create them) instead of starting a stream worker.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from tests.integration.helpers import AppEnv, base_env

CreateTopics = Callable[..., Awaitable[None]]


@pytest.fixture
def kafka_env(stack_env: dict[str, str], tmp_path: Path) -> AppEnv:
    """An environment with its own topic prefix and data dir (no database, no worker)."""
    return AppEnv(base_env(stack_env, tmp_path), tmp_path)


@pytest.fixture
def create_topics(kafka_env: AppEnv) -> CreateTopics:
    """Create fleetstream topics of `kafka_env` by short name, e.g. `await create("backup")`."""

    async def create(*names: str, partitions: int = 2) -> None:
        admin = AIOKafkaAdminClient(bootstrap_servers=kafka_env.bootstrap)
        await admin.start()
        try:
            await admin.create_topics([NewTopic(kafka_env.topic(name), partitions, 1)
                                       for name in names])
        finally:
            await admin.close()

    return create
