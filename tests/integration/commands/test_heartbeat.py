"""`heartbeat --task`: the heartbeat record on Kafka carries the running tasks."""

from __future__ import annotations

import asyncio
import json

from tests.integration.commands.conftest import CreateTopics
from tests.integration.helpers import AppEnv


async def test_the_heartbeat_on_kafka_carries_the_tasks(kafka_env: AppEnv,
                                                        create_topics: CreateTopics) -> None:
    await create_topics("heartbeat")
    result = await asyncio.to_thread(
        kafka_env.run_cli, "heartbeat", "--worker-id", "gpu-box-3", "--once",
        "--task", "t-17:resnet train:training", "--task", "t-18::")
    assert result.returncode == 0, result.stderr
    [(key, value)] = await kafka_env.consume_all(kafka_env.topic("heartbeat"), expect=1)
    beat = json.loads(value)
    assert key == b"gpu-box-3" and beat["schema"] == "worker.heartbeat/1"
    assert [(t["task_id"], t["name"], t["task_type"]) for t in beat["running_tasks"]] == [
        ("t-17", "resnet train", "training"), ("t-18", None, None)]
