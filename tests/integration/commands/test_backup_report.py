"""`backup-report` without `--job-id` reports the job MIGRATEKIT_JOB_ID names (seed 003)."""

from __future__ import annotations

import asyncio
import json

from tests.integration.commands.conftest import CreateTopics
from tests.integration.helpers import AppEnv


async def test_the_job_id_comes_from_migratekit_job_id(kafka_env: AppEnv,
                                                       create_topics: CreateTopics) -> None:
    await create_topics("backup")
    result = await asyncio.to_thread(
        kafka_env.run_cli, "backup-report", "--job-type", "backup", "--disk", "0:512/1024",
        "--timeout", "30", MIGRATEKIT_JOB_ID="mk-job-7781")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "reported job mk-job-7781: running transferring"
    [(key, value)] = await kafka_env.consume_all(kafka_env.topic("backup"), expect=1)
    event = json.loads(value)
    assert key == b"mk-job-7781" and event["job_id"] == "mk-job-7781"
    assert event["disks"][0]["bytes_transferred"] == 512
