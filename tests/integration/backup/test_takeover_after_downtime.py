"""A worker taking over after a downtime longer than stale_after raises no stale alert storm.

Ten jobs report every 0.5 s the whole time. The only worker stops (SIGTERM) and stays down for
8 s, longer than stale_after (3 s) and stalled_after (6 s); the jobs keep reporting into Kafka.
The worker that starts next recovers states whose last telemetry is 8 s old, but the reports
waiting in the topic are newer: it must catch up before it judges staleness, so no
`backup.stale` alert is announced at all. Then one job stops reporting: exactly one stale alert,
for that job.
"""

from __future__ import annotations

import asyncio
import contextlib
import time

import orjson
from aiokafka import AIOKafkaProducer

from producers.backup import progress_event
from tests.integration.helpers import AppEnv, wait_for

FAST_STALENESS = {"FLEETSTREAM_STALE_AFTER_SECONDS": "3",
                  "FLEETSTREAM_STALLED_AFTER_SECONDS": "6",
                  "FLEETSTREAM_SWEEP_INTERVAL_SECONDS": "0.5"}
JOBS = [f"job-{i}" for i in range(10)]
EVERY_S = 0.5
DOWNTIME_S = 8.0


async def report(app_env: AppEnv, jobs: set[str], stop: asyncio.Event) -> None:
    """Every job in `jobs` (read each round: the test removes one) reports every 0.5 s."""
    producer = AIOKafkaProducer(bootstrap_servers=app_env.bootstrap, acks="all")
    await producer.start()
    try:
        done = 0
        while not stop.is_set():
            done += 10
            seq = time.time_ns() // 1000
            for job_id in sorted(jobs):
                event = progress_event(job_id=job_id, job_type="backup", status="running",
                                       phase="transferring", seq=seq, total_bytes=10**9,
                                       disks={0: (done, 10**9)}, source="takeover-test")
                await producer.send_and_wait(app_env.topic("backup"), key=job_id.encode(),
                                             value=event.encode())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), EVERY_S)
    finally:
        await producer.stop()


async def stale_alerts(app_env: AppEnv) -> list[str]:
    """Subjects of every `backup.stale` alert announced on the alerts topic so far."""
    values = await app_env.consume_all(app_env.topic("alerts"), expect=10**6, timeout=3)
    return [body["subject"] for body in map(orjson.loads, (v for _, v in values))
            if body["kind"] == "backup.stale"]


async def test_no_stale_alert_after_a_takeover_that_followed_a_long_downtime(
        app_env: AppEnv) -> None:
    first = await app_env.start_worker(**FAST_STALENESS)
    reporting, stop = set(JOBS), asyncio.Event()
    reporter = asyncio.create_task(report(app_env, reporting, stop))
    try:
        async def all_rows() -> bool:
            found = await app_env.rows("SELECT count(*) AS n FROM backup_jobs")
            return bool(found) and found[0]["n"] == len(JOBS)
        await wait_for(all_rows, 60, what="every job's row")
        await asyncio.sleep(2)  # a few sweeps while every job reports: nothing is stale

        await asyncio.to_thread(first.stop)
        await asyncio.sleep(DOWNTIME_S)  # the jobs keep reporting; nobody consumes
        second = await app_env.start_worker(**FAST_STALENESS)
        # Caught up and several stale_after periods of sweeps on the new worker.
        await asyncio.sleep(10)
        assert await stale_alerts(app_env) == [], "a stale alert after the takeover"
        assert second.proc is not None and second.proc.poll() is None

        reporting.discard("job-0")

        async def one_stale() -> list[str]:
            return await stale_alerts(app_env)
        assert await wait_for(one_stale, 30, what="job-0's stale alert") == ["job-0"]
        await asyncio.sleep(5)  # more sweeps: the alert is not repeated, nobody else is stale
        assert await stale_alerts(app_env) == ["job-0"]
    finally:
        stop.set()
        await reporter
