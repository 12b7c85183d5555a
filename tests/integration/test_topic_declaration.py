"""A worker's topic declarations on a broker with many topics: only the declared topics' metadata.

Regression test for the restarted worker that was not ready within a minute (issue 12): Faust
refreshed the metadata of every topic on the broker after each of its 16 declarations, and on
the shared test broker (3,530 topics) that alone took the worker most of a minute on a loaded
machine. With `streams.faust_tuning.patch_declared_topic_metadata` the producer's client knows
the declared topics, and no other, and each declaration returns once its topic shows.
"""

from __future__ import annotations

import tempfile

import faust
from aiokafka.admin import AIOKafkaAdminClient

from streams import faust_tuning
from tests.integration.helpers import unique


async def test_declaring_topics_fetches_their_metadata_not_every_topic_on_the_broker(
        stack_env: dict[str, str]) -> None:
    bootstrap = stack_env["KAFKA_BOOTSTRAP_SERVERS"]
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    others = set(await admin.list_topics())
    faust_tuning.patch_declared_topic_metadata()
    app = faust.App(unique("declare-"), broker=f"kafka://{bootstrap}", store="memory://",
                    web_enabled=False, datadir=tempfile.mkdtemp(prefix="declare-test-"))
    names = [unique("declare-t."), unique("declare-t.")]
    producer = app.producer
    await producer.start()
    try:
        for name in names:
            await producer.create_topic(name, 3, 1)
        await producer.create_topic(names[0], 3, 1)  # declared again: it exists
        client = producer._producer.client  # type: ignore[attr-defined]
        assert len(others) > 10, "the broker should hold other tests' topics"
        # Each declaration returned once the broker's metadata showed its topic.
        assert set(client.cluster.topics()) == set(names)
        assert all(client.cluster.partitions_for_topic(name) == {0, 1, 2} for name in names)
    finally:
        await producer.stop()
        await admin.delete_topics(names)
        await admin.close()
