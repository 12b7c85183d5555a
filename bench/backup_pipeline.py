"""Backup pipeline throughput: events/s from `telemetry.backup` to final rows in PostgreSQL.

Why it exists: the backup agent must keep up with many jobs reporting every second. This
pre-produces `jobs x disks x updates` progress events (interleaved in time order, the last update
of each job `completed`) to the topic of an isolated prefix, then measures in the same run:
- the ceiling: a raw aiokafka consumer that reads the topic and decodes every event
  (`schemas.decode`), no state and no sinks;
- the Faust floor: a Faust agent that takes the same batches and does nothing with them
  (`bench/faust_floor.py`), i.e. what Faust's per-message dispatch alone allows;
- end to end: a `fleetstream worker` started on the topic, timed from its first row in
  PostgreSQL until every job's final state is there (and from process start, for reference);
and prints both, their ratio, the worker's peak RSS, its batches (count and mean size, from its
`/metrics`) and (with --profile) where a py-spy recording of the first worker spent its samples
(`bench/py_spy.py`: the worker is asyncio code, which cProfile distorts).

    python bench/backup_pipeline.py [--jobs 1000] [--disks 4] [--updates 50] [--profile]
        [--workers 2 --partitions 8]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
import tempfile
import time
import urllib.parse
import urllib.request
import uuid
from pathlib import Path
from typing import NamedTuple

import asyncpg
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import py_spy
from common.settings import read_dotenv
from producers.backup import progress_event
from schemas.backup import BackupProgress
from schemas.event import decode
from streams.metrics import batch_totals

REPO = Path(__file__).resolve().parents[1]


def make_events(jobs: int, disks: int, updates: int) -> list[tuple[bytes, bytes]]:
    """Per-disk reports, round by round (jobs copy in parallel); each job's very last completes.

    One event per disk update (a report may list only the disk that moved), so the count is
    jobs x disks x updates.
    """
    size = 10 * 1024**3
    # Event times end now: telemetry from long ago would (rightly) make every job stale.
    base_seq = (int(time.time()) - updates) * 1_000_000
    events = []
    for update in range(updates):
        done = size * (update + 1) // updates
        for job in range(jobs):
            job_id = f"bench-{job:05d}"
            for disk in range(disks):
                last = update == updates - 1 and disk == disks - 1
                event = progress_event(
                    job_id=job_id, job_type="backup",
                    status="completed" if last else "running", phase="transferring",
                    seq=base_seq + update * 1_000_000 + job * disks + disk,
                    total_bytes=size * disks, disks={disk: (done, size)}, source="bench")
                events.append((job_id.encode(), event.encode()))
    return events


async def produce(bootstrap: str, topic: str, partitions: int,
                  events: list[tuple[bytes, bytes]]) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, partitions, 1)])
    finally:
        await admin.close()
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=20,
                                max_batch_size=512 * 1024)
    await producer.start()
    try:
        futures = [await producer.send(topic, key=k, value=v) for k, v in events]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


class Rate(NamedTuple):
    """A consumer's throughput: wall-clock events/s, and CPU microseconds it spent per event.

    On a machine shared with other work the wall-clock figure moves with the load; the CPU cost
    per event moves much less, so both are shown.
    """

    events_per_second: float
    cpu_us_per_event: float


async def ceiling(bootstrap: str, topic: str, expect: int) -> Rate:
    """Throughput of a bare consumer that reads and decodes the topic."""
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=uuid.uuid4().hex,
                                auto_offset_reset="earliest", enable_auto_commit=False,
                                max_partition_fetch_bytes=4 * 1024 * 1024)
    await consumer.start()
    seen = 0
    try:
        started, cpu_started = time.perf_counter(), time.process_time()
        while seen < expect:
            batch = await consumer.getmany(timeout_ms=1000, max_records=5000)
            for messages in batch.values():
                for message in messages:
                    decode(BackupProgress, message.value)
                seen += len(messages)
        return Rate(seen / (time.perf_counter() - started),
                    1e6 * (time.process_time() - cpu_started) / seen)
    finally:
        await consumer.stop()


async def faust_floor(bootstrap: str, topic: str, total: int, partitions: int,
                      *options: str, env: dict[str, str] | None = None) -> Rate:
    """Throughput of a Faust agent that does nothing with its batches (`bench/faust_floor.py`).

    It is configured as the worker is; `options` (e.g. `--without uvloop`) and `env` (e.g.
    `FLEETSTREAM_FETCH_MAX_WAIT_MS`) vary that for `bench/faust_tuning.py`.
    """
    probe = await asyncio.create_subprocess_exec(
        sys.executable, str(REPO / "bench" / "faust_floor.py"), topic, str(total),
        str(partitions), *options,
        env={**os.environ, **(env or {}), "KAFKA_BOOTSTRAP_SERVERS": bootstrap},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    out, _ = await asyncio.wait_for(probe.communicate(), 600)
    # The Faust worker redirects stdout into its log, so the result may come with a log prefix.
    for line in out.decode(errors="replace").splitlines():
        if "floor_events_per_second=" in line:
            fields = dict(field.split("=", 1) for field in line.split() if "=" in field)
            return Rate(float(fields["floor_events_per_second"]),
                        float(fields["floor_cpu_us_per_event"]))
    raise SystemExit(f"faust floor probe printed no result (exit {probe.returncode})")


async def fresh_database(admin_url: str, name: str) -> str:
    """Create database `name` on the stack's server; its URL."""
    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return urllib.parse.urlunsplit(urllib.parse.urlsplit(admin_url)._replace(path=f"/{name}"))


def worker_env(stack: dict[str, str], prefix: str, run_id: str, db_url: str, tmp: Path,
               partitions: int, web_port: int) -> dict[str, str]:
    """A worker's environment: the stack, isolated by topic prefix, app id, database and port."""
    return {**os.environ, **stack, "DATABASE_URL": db_url, "FLEETSTREAM_TOPIC_PREFIX": prefix,
            "FLEETSTREAM_APP_ID": f"bench-{run_id}", "FLEETSTREAM_PARTITIONS": str(partitions),
            "FLEETSTREAM_DATA_DIR": str(tmp), "FLEETSTREAM_WEB_PORT": str(web_port),
            "FLEETSTREAM_LOG_LEVEL": "warn", "INFLUX_DB": f"bench{run_id}"}


async def count_jobs(url: str, where: str = "true", table: str = "backup_jobs") -> int:
    """Rows of `table` matching `where`; 0 while the worker has not created the table."""
    try:
        conn = await asyncpg.connect(url)
    except (OSError, asyncpg.PostgresError):
        return 0
    try:
        return int(await conn.fetchval(f"SELECT count(*) FROM {table} WHERE {where}"))
    except asyncpg.exceptions.UndefinedTableError:
        return 0
    finally:
        await conn.close()


class WorkerRun(NamedTuple):
    """A timed worker run: first row and all-final times (perf_counter), the largest worker's
    peak RSS, the CPU seconds all workers spent (user + system, start-up included), and the
    backup pipeline's batches (count, events) summed over the workers."""

    first_row: float
    finished: float
    rss_mib: float
    cpu_s: float
    batches: int
    batched_events: int


def backup_batches(port: int) -> tuple[int, int]:
    """(batches, events in them) of a worker's backup pipeline, from its `/metrics`."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as answer:
        return batch_totals(answer.read().decode(), "backup")


async def run_worker(args: argparse.Namespace, env: dict[str, str], tmp: Path,
                     profile_path: Path, db_url: str, workers: int = 1) -> WorkerRun:
    """Run `workers` workers of one group until every job is final. Each worker has a web port
    and data dir of its own."""
    command = [sys.executable, "-m", "fleetstream.cli", "worker"]
    started = time.perf_counter()
    processes = []
    for n in range(workers):
        own = {**env, "FLEETSTREAM_WEB_PORT": str(int(env["FLEETSTREAM_WEB_PORT"]) + n),
               "FLEETSTREAM_DATA_DIR": f"{env['FLEETSTREAM_DATA_DIR']}/{n}"}
        with (tmp / f"worker-{n}.log").open("wb") as log:
            processes.append(await asyncio.create_subprocess_exec(
                *command, env=own, cwd=REPO, stdout=log, stderr=asyncio.subprocess.STDOUT))
    recorder = py_spy.record(processes[0].pid, profile_path) if args.profile else None
    try:
        first_row = None
        while await count_jobs(db_url, "status = 'completed'") < args.jobs:
            for worker in processes:
                if worker.returncode is not None:
                    raise SystemExit(f"worker exited with {worker.returncode}; see {tmp}")
            if first_row is None and await count_jobs(db_url):
                first_row = time.perf_counter()
            await asyncio.sleep(0.2)
        finished = time.perf_counter()
        rss = max(peak_rss_mib(worker.pid) for worker in processes)
        cpu = sum(cpu_seconds(worker.pid) for worker in processes)
        batches = [await asyncio.to_thread(backup_batches, int(env["FLEETSTREAM_WEB_PORT"]) + n)
                   for n in range(workers)]
    finally:
        if recorder is not None:
            py_spy.stop(recorder)
        for worker in processes:
            worker.send_signal(signal.SIGTERM)
        for worker in processes:
            await asyncio.wait_for(worker.wait(), 60)
    return WorkerRun(first_row or started, finished, rss, cpu, sum(b for b, _ in batches),
                     sum(e for _, e in batches))


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds process `pid` has used so far (/proc/PID/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def run(args: argparse.Namespace) -> None:
    stack = read_dotenv(REPO / ".stack" / "env")
    bootstrap = stack["KAFKA_BOOTSTRAP_SERVERS"]
    run_id = uuid.uuid4().hex[:8]
    prefix = f"bench{run_id}."
    topic = f"{prefix}backup"
    total = args.jobs * args.disks * args.updates

    db_url = await fresh_database(stack["DATABASE_URL"], f"bench_{run_id}")

    started = time.perf_counter()
    events = make_events(args.jobs, args.disks, args.updates)
    await produce(bootstrap, topic, args.partitions, events)
    print(f"produced {total} events ({sum(len(v) for _, v in events) / total:.0f} B each) "
          f"in {time.perf_counter() - started:.1f}s to {topic}")
    del events

    raw, raw_cpu = await ceiling(bootstrap, topic, total)
    print(f"ceiling  raw consumer + decode:   {raw:10.0f} events/s ({raw_cpu:.0f} us CPU/event)")
    floor, floor_cpu = await faust_floor(bootstrap, topic, total, args.partitions)
    print(f"faust no-op agent, tuned as the worker: {floor:10.0f} events/s "
          f"({floor_cpu:.0f} us CPU/event)")

    tmp = Path(tempfile.mkdtemp(prefix="bench-backup-"))
    env = worker_env(stack, prefix, run_id, db_url, tmp, args.partitions, args.web_port)
    profile_path = tmp / "worker.py-spy.txt"
    proc_started = time.perf_counter()
    first_row, finished, rss, cpu, batches, batched = await run_worker(
        args, env, tmp, profile_path, db_url, args.workers)
    end_to_end = total / (finished - first_row)
    print(f"pipeline, {args.workers} worker(s), first row -> all final: {end_to_end:10.0f} "
          f"events/s ({finished - first_row:.1f}s; {1e6 * cpu / total:.0f} us CPU/event, "
          "start-up included)")
    print(f"pipeline incl. worker start:      {total / (finished - proc_started):10.0f} events/s")
    print(f"ratio pipeline / ceiling:         {end_to_end / raw:10.2f}")
    print(f"ratio pipeline / faust no-op:     {end_to_end / floor:10.2f}")
    print(f"worker peak RSS:                  {rss:10.0f} MiB")
    print(f"backup batches:                   {batches:10d} (mean {batched / max(batches, 1):.0f}"
          " events)")
    if args.profile:
        print(f"py-spy of worker 0 (raw: {profile_path}):")
        print(py_spy.summary(profile_path))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--disks", type=int, default=4)
    parser.add_argument("--updates", type=int, default=50)
    parser.add_argument("--partitions", type=int, default=4)
    parser.add_argument("--web-port", type=int, default=6199)
    parser.add_argument("--workers", type=int, default=1,
                        help="worker processes in the group (one per core; use 8 partitions)")
    parser.add_argument("--profile", action="store_true",
                        help="record the first worker with py-spy and print where its samples went")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
