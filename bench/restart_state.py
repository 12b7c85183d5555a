"""A worker restarted with a million keys in its tables: time until its views answer, and its RSS.

Why it exists: the live tables are `memory://` stores rebuilt from their changelog topics at
every start, so the time a restarted worker needs before it serves its views grows with the
number of keys. The goal (issue 12) is ready within 30 s at 1,000,000 keys (jobs + nodes).

How: one real worker on an isolated prefix and database takes one backup report and one node
snapshot; their changelog records (the real values the pipeline wrote) are the templates. The
worker stops, and `--keys` copies of the templates (half jobs, half nodes, each with its own id,
on the partition its key's events would use) are produced straight into the two changelog topics.
A new worker then starts on the same app id with an empty data dir, as after a host loss. Printed:
seconds from the process start to Faust's "Ready" (recovery done), to the views answering for a
sample of keys on every partition, and the worker's RSS then.

    python bench/restart_state.py [--keys 1000000] [--partitions 4] [--profile out.txt]

`--profile` records the restarted worker with py-spy (collapsed stacks, `--format raw`) from its
start until its views answer, and keeps the worker's log next to it (`<profile>.log`).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import py_spy
from bench.retention import rss_mib
from fleetstream.stack import Stack
from producers.backup import progress_event
from tests.integration.helpers import (
    REPO,
    AppEnv,
    WorkerProcess,
    ahttp,
    base_env,
    create_database,
    read_env_file,
    unique,
    wait_for,
)

SAMPLE_PER_PARTITION = 25
PRODUCE_CHUNK = 50_000


async def last_value(bootstrap: str, topic: str, partitions: int,
                     key: bytes) -> tuple[int, bytes]:
    """(partition, value) of the newest record of `key` on a changelog topic."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in range(partitions)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends = await consumer.end_offsets(tps)
        found: tuple[int, bytes] | None = None
        while [tp for tp in tps if await consumer.position(tp) < ends[tp]]:
            for tp, records in (await consumer.getmany(timeout_ms=1000)).items():
                for record in records:
                    if record.key == key and record.value is not None:
                        found = (tp.partition, record.value)
        if found is None:
            raise RuntimeError(f"no record of {key!r} on {topic}")
        return found
    finally:
        await consumer.stop()


def copies(template: bytes, template_key: str, prefix: str, count: int,
           partitions: int) -> list[tuple[int, bytes, bytes]]:
    """`count` (partition, key, value) copies of a state, each with its own key and partition."""
    state = orjson.loads(template)
    needle = f'"{template_key}"'
    out = []
    for i in range(count):
        key = f"{prefix}{i:07d}"
        state["_partition"] = i % partitions
        value = orjson.dumps(state).replace(needle.encode(), f'"{key}"'.encode())
        out.append((i % partitions, key.encode(), value))
    return out


async def produce_state(bootstrap: str, topic: str,
                        records: list[tuple[int, bytes, bytes]]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks=1, linger_ms=20,
                                max_batch_size=1 << 20, compression_type=None)
    await producer.start()
    try:
        for start in range(0, len(records), PRODUCE_CHUNK):
            futures = [await producer.send(topic, key=k, value=v, partition=p)
                       for p, k, v in records[start:start + PRODUCE_CHUNK]]
            await asyncio.gather(*futures)
    finally:
        await producer.stop()


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process: on a shared machine, less noisy than wall time."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def views_answer(url: str, paths: list[str]) -> bool:
    for path in paths:
        try:
            status, _ = await ahttp("GET", f"{url}{path}", timeout=10)
        except OSError:  # a worker busy for longer than the timeout is not serving yet
            return False
        if status != 200:
            return False
    return True


async def run(keys: int, partitions: int, tmp: Path, profile: Path | None) -> None:
    stack_env = read_env_file(Stack(REPO / ".stack").env_file)
    env = base_env(stack_env, tmp)
    env["DATABASE_URL"] = await create_database(stack_env["DATABASE_URL"], unique("bench_"))
    # The copies carry the template's event time: no sweep may act on them while measuring.
    env.update(FLEETSTREAM_PARTITIONS=str(partitions), FLEETSTREAM_STALE_AFTER_SECONDS="86400",
               FLEETSTREAM_STALLED_AFTER_SECONDS="172800",
               FLEETSTREAM_NODE_SILENT_SECONDS="86400",
               FLEETSTREAM_SWEEP_INTERVAL_SECONDS=os.environ.get("SWEEP", "1"))
    app = AppEnv(env, tmp)
    try:
        await measure(app, env, keys, partitions, tmp, profile)
    finally:  # a failed run leaves no worker (nor its GBs of state) and no topics behind
        app.stop_workers()
        await app.delete_topics()


async def measure(app: AppEnv, env: dict[str, str], keys: int, partitions: int, tmp: Path,
                  profile: Path | None) -> None:
    job_id, node_id = unique("tpl-job-"), unique("tpl-node-")
    worker = WorkerProcess(env, tmp / "template.log").start()
    app.workers.append(worker)
    await worker.wait_ready(timeout=600)
    # A report of now (its seq is its event time, in µs): a template from 1970 would make every
    # copy stale at once, and the restarted worker's first sweep raise 2 alerts per job.
    await app.produce(app.topic("backup"), [(job_id.encode(), progress_event(
        job_id=job_id, job_type="backup", status="running", phase="transferring",
        seq=int(time.time() * 1_000_000),
        total_bytes=4000, disks={0: (100, 1000), 1: (200, 1000)},
        source="bench-restart").encode())])
    snapshot = {"event_id": str(uuid.uuid4()), "schema": "node.snapshot/1",
                "source": "bench-restart", "ts": datetime.now(UTC).isoformat(),
                "node_id": node_id, "cpu_percent": 12.5, "memory_percent": 40.0,
                "process_count": 200, "network_rx_bytes": 10, "network_tx_bytes": 20}
    await app.produce(app.topic("node"), [(node_id.encode(), orjson.dumps(snapshot))])
    await wait_for(lambda: views_answer(worker.url, [f"/jobs/{job_id}", f"/nodes/{node_id}"]),
                   120, what="the template job and node")
    worker.stop()
    app.workers.clear()

    app_id = env["FLEETSTREAM_APP_ID"]
    began = time.monotonic()
    sizes = []
    for table, template_key, prefix, count in (("backup_jobs", job_id, "job-", keys // 2),
                                                ("nodes", node_id, "node-", keys - keys // 2)):
        topic = f"{app_id}-{table}-changelog"
        _, template = await last_value(app.bootstrap, topic, partitions,
                                       template_key.encode())
        sizes.append(len(template))
        await produce_state(app.bootstrap, topic,
                            copies(template, template_key, prefix, count, partitions))
    print(f"produced {keys:,} state records (a job's {sizes[0]:,} B, a node's {sizes[1]:,} B) "
          f"into the changelogs in {time.monotonic() - began:.1f} s", flush=True)

    shutil.rmtree(env["FLEETSTREAM_DATA_DIR"], ignore_errors=True)
    sample = [f"/jobs/job-{i:07d}" for i in range(partitions * SAMPLE_PER_PARTITION)]
    sample += [f"/nodes/node-{i:07d}" for i in range(partitions * SAMPLE_PER_PARTITION)]
    started = time.monotonic()
    worker = WorkerProcess(env, tmp / "restarted.log").start()
    app.workers.append(worker)
    assert worker.proc is not None
    recorder = py_spy.record(worker.proc.pid, profile) if profile else None
    await worker.wait_ready(timeout=600)  # Faust's "Ready": recovery done
    ready = time.monotonic() - started
    print(f"restarted worker ready (recovery done) {ready:.1f} s after start", flush=True)
    await wait_for(lambda: views_answer(worker.url, sample), 600, interval=0.5,
                   what="views for keys on every partition")
    serving = time.monotonic() - started
    if recorder is not None:
        py_spy.stop(recorder)
        shutil.copy(worker.log_path, f"{profile}.log")
    rss, cpu = rss_mib(worker.proc.pid), cpu_seconds(worker.proc.pid)
    try:
        status, listed = await ahttp("GET", f"{worker.url}/jobs?limit=1", timeout=60)
        total = listed.get("total") if status == 200 else None
    except TimeoutError:  # a check only: a loaded machine may page 500,000 jobs slower
        total = None
    print(f"restart with {keys:,} keys ({keys // 2:,} jobs + {keys - keys // 2:,} nodes, "
          f"{partitions} partitions, memory:// store): ready {ready:.1f} s, views answering "
          f"{serving:.1f} s after start (goal <= 30 s), CPU {cpu:.1f} s until then, "
          f"RSS {rss:.0f} MiB, /jobs total {total}",
          flush=True)
    for line in worker.log().splitlines():
        if "recovery.bulk" in line:  # the bulk read's own count and CPU (streams.bulk_recovery)
            print(line.split("] ")[-1].strip(), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keys", type=int, default=1_000_000)
    parser.add_argument("--partitions", type=int, default=4)
    parser.add_argument("--profile", type=Path, help="py-spy the restarted worker into this file")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-restart-") as tmp:
        asyncio.run(run(args.keys, args.partitions, Path(tmp), args.profile))


if __name__ == "__main__":
    main()
