"""Adaptive batches against the real broker: they grow while a backlog waits, and at a trickle an
event still waits only the batch wait (`streams.faust_tuning.take_batches`).

What is checked, with a worker whose batches may hold 8,000 events and wait up to 30 s:
- a backlog of 24,000 backup reports (written while the worker was stopped) goes through in at
  most 6 batches: batches filled up to the cap instead of leaving after each 50 ms wait (with
  the fixed 2,000-event batches of before, at least 12);
- every job's row is exact afterwards, and the group's committed offsets reach the end of every
  partition (the batches that grew were acknowledged);
- then, one report every 0.1 s: each one's row is visible within 5 s, far below the 30 s a
  batch may grow to (a trickle is not a backlog).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from producers.backup import progress_event
from streams.metrics import batch_totals
from tests.integration.helpers import AppEnv, ahttp, wait_for

JOBS, DISKS, ROUNDS = 300, 4, 20
BACKLOG = JOBS * DISKS * ROUNDS
SIZE = 1 << 30
SETTINGS = {"FLEETSTREAM_BATCH_MAX_EVENTS": "8000", "BATCH_MAX_SEC": "30",
            "FLEETSTREAM_BATCH_WAIT_SECONDS": "0.05"}


def report(job: int, round_: int, disk: int, base_us: int) -> tuple[bytes, bytes]:
    job_id = f"batch-{job:04d}"
    done = SIZE * (round_ + 1) // ROUNDS
    event = progress_event(job_id=job_id, job_type="backup", status="running",
                           phase="transferring", seq=base_us + round_ * 1_000_000 + disk,
                           total_bytes=SIZE * DISKS, disks={disk: (done, SIZE)}, source="test")
    return job_id.encode(), event.encode()


async def backup_batches(url: str) -> tuple[int, int]:
    """(batches, events in them) of the worker's backup pipeline, from its /metrics."""
    status, text = await ahttp("GET", f"{url}/metrics")
    assert status == 200
    return batch_totals(str(text), "backup")


async def lag(app_env: AppEnv, topic: str) -> int:
    """Records of `topic` past the group's committed offsets."""
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=app_env.bootstrap, group_id=None,
                                enable_auto_commit=False)
    admin = AIOKafkaAdminClient(bootstrap_servers=app_env.bootstrap)
    await consumer.start()
    await admin.start()
    try:
        partitions = [TopicPartition(topic, p)
                      for p in consumer.partitions_for_topic(topic) or ()]
        assert partitions, topic
        ends = await consumer.end_offsets(partitions)
        committed = await admin.list_consumer_group_offsets(app_env.env["FLEETSTREAM_APP_ID"])
    finally:
        await admin.close()
        await consumer.stop()
    return sum(end - (committed[tp].offset if tp in committed else 0)
               for tp, end in ends.items())


async def test_batches_grow_through_a_backlog_and_a_trickle_waits_only_the_batch_wait(
    app_env: AppEnv,
) -> None:
    topic = app_env.topic("backup")
    first = await app_env.start_worker(**SETTINGS)
    first.stop()  # the topics exist now; what follows is a backlog for the next worker
    base_us = (int(time.time()) - ROUNDS - 5) * 1_000_000
    await app_env.produce(topic, [report(job, round_, disk, base_us) for round_ in range(ROUNDS)
                                  for job in range(JOBS) for disk in range(DISKS)])

    worker = await app_env.start_worker(**SETTINGS)
    final = SIZE * DISKS

    async def all_final() -> bool:
        rows = await app_env.rows("SELECT count(*) AS n FROM backup_jobs "
                                  "WHERE bytes_transferred = $1", final)
        return bool(rows) and rows[0]["n"] == JOBS

    await wait_for(all_final, 120, interval=0.5, what="every job's final row")

    async def counted() -> tuple[int, int] | None:
        # A batch is counted once done (after step 7), a little after its rows are visible.
        batches, events = await backup_batches(worker.url)
        return (batches, events) if events >= BACKLOG else None

    counts = await wait_for(counted, 30, interval=0.2, what="every batch counted")
    assert counts is not None
    batches, events = counts
    print(f"FIGURES backlog {BACKLOG} events in {batches} batches")
    assert events == BACKLOG
    assert batches <= 6, f"{batches} batches for a backlog of {BACKLOG}: they did not grow"

    async def committed() -> bool:
        return await lag(app_env, topic) == 0

    await wait_for(committed, 60, interval=1.0, what="the group's offsets at every end")

    latencies = []
    for n in range(20):
        key, value = report(JOBS + n, 0, 0, (int(time.time()) - 1) * 1_000_000)
        sent = time.monotonic()
        await app_env.produce(topic, [(key, value)])

        async def visible(job_id: str = key.decode()) -> Any:
            return await app_env.rows("SELECT 1 FROM backup_jobs WHERE job_id = $1", job_id)

        await wait_for(visible, 30, interval=0.02, what=f"row of {key!r}")
        latencies.append(time.monotonic() - sent)
        await asyncio.sleep(0.1)
    print(f"FIGURES trickle event -> row max {max(latencies):.2f} s, "
          f"median {sorted(latencies)[10]:.2f} s")
    assert max(latencies) < 5, latencies
