"""Fixtures of the node integration tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from tests.integration.helpers import AppEnv


@pytest.fixture
async def node_topic(app_env: AppEnv) -> AsyncIterator[str]:
    """The test's `node` topic, created as a worker would (the broker does not auto-create)."""
    name = app_env.topic("node")
    admin = AIOKafkaAdminClient(bootstrap_servers=app_env.bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, num_partitions=1, replication_factor=1)])
        yield name
        await admin.delete_topics([name])
    finally:
        await admin.close()
