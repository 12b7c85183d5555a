"""Catching up on old telemetry (restart, replay) raises each stale alert once and clears none."""

from __future__ import annotations

import orjson
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from producers.backup import progress_event
from tests.integration.helpers import AppEnv, wait_for

OLD_SEQ = 1_760_000_000_000_000  # 2025-10-09: long silent by now
JOBS, REPORTS = 10, 300


async def test_a_backlog_of_old_reports_does_not_flap_alerts(app_env: AppEnv) -> None:
    backlog = [progress_event(
        job_id=f"old-{j}", job_type="backup", status="running", phase="transferring",
        seq=OLD_SEQ + r * 1_000_000, total_bytes=10 * REPORTS, disks={0: (10 * r, None)},
        source="test") for r in range(REPORTS) for j in range(JOBS)]
    # The backlog is there before the worker starts, as after a restart or for a replay.
    admin = AIOKafkaAdminClient(bootstrap_servers=app_env.bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(app_env.topic("backup"), 4, 1)])
    finally:
        await admin.close()
    await app_env.produce(app_env.topic("backup"),
                          [(e.job_id.encode(), e.encode()) for e in backlog])
    await app_env.start_worker(FLEETSTREAM_STALE_AFTER_SECONDS="3",
                               FLEETSTREAM_STALLED_AFTER_SECONDS="6",
                               FLEETSTREAM_SWEEP_INTERVAL_SECONDS="0.1",
                               BATCH_MAX_LINES="20")

    async def all_raised() -> bool:
        found = await app_env.rows("SELECT count(*) AS n FROM alerts")
        return bool(found) and found[0]["n"] == 2 * JOBS
    await wait_for(all_raised, 60, what="a stale and a stalled alert per job, once caught up")
    alerts = await app_env.consume_all(app_env.topic("alerts"), expect=2 * JOBS + 1, timeout=3)
    states = [orjson.loads(value)["state"] for _, value in alerts]
    assert states == ["raised"] * (2 * JOBS), "no alert raised and cleared while catching up"
    final = await app_env.rows("SELECT bytes_transferred FROM backup_jobs")
    assert {r["bytes_transferred"] for r in final} == {10 * (REPORTS - 1)}
