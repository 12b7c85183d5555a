"""Latency at ordinary load: event -> PostgreSQL row visible, p50 and p99, at 1,000 events/s.

Why it exists: throughput alone hides how long a report waits before anyone can see it. This
starts one worker on an isolated prefix and database, produces backup reports at a steady rate
(`--rate`, default 1,000/s, `--jobs` jobs reporting in turn, each report's send time taken on the
producer side), and polls `backup_jobs.last_seq` every few milliseconds: a report is visible when
its job's row carries its seq or a later one. It prints p50/p90/p99/max over all reports (the
poll interval is the measurement's resolution) and the achieved rate.

    python bench/latency.py [--rate 1000] [--seconds 20] [--jobs 100]
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

import asyncpg
from aiokafka import AIOKafkaProducer

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.backup_pipeline import REPO, count_jobs, fresh_database, worker_env
from common.settings import read_dotenv
from producers.backup import progress_event

POLL_SECONDS = 0.005


async def produce(bootstrap: str, topic: str, jobs: list[str], rate: float, seconds: float,
                  sent: dict[tuple[str, int], float]) -> None:
    """Reports at `rate`/s for `seconds`; `sent[(job, seq)]` = monotonic send time."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=0)
    await producer.start()
    try:
        base = int(time.time()) * 1_000_000
        began = time.monotonic()
        for n in range(int(rate * seconds)):
            due = began + n / rate
            if (wait := due - time.monotonic()) > 0:
                await asyncio.sleep(wait)
            job = jobs[n % len(jobs)]
            seq = base + n
            event = progress_event(job_id=job, job_type="backup", status="running",
                                   phase="transferring", seq=seq, total_bytes=10**12,
                                   disks={0: (n, 10**12)}, source="latency")
            sent[(job, seq)] = time.monotonic()
            await producer.send(topic, key=job.encode(), value=event.encode())
        await producer.flush()
    finally:
        await producer.stop()


async def watch(db_url: str, sent: dict[tuple[str, int], float], seen: dict[tuple[str, int],
                float], done: asyncio.Event) -> None:
    """Mark every sent report visible once its job's row reaches its seq."""
    conn = None
    while conn is None:
        try:
            conn = await asyncpg.connect(db_url)
            await conn.fetch("SELECT 1 FROM backup_jobs LIMIT 1")
        except (OSError, asyncpg.PostgresError):
            conn = None
            await asyncio.sleep(0.2)
    try:
        while not (done.is_set() and len(seen) == len(sent)):
            rows = await conn.fetch("SELECT job_id, last_seq FROM backup_jobs")
            now = time.monotonic()
            latest = {row["job_id"]: row["last_seq"] for row in rows}
            for key in [k for k in sent if k not in seen]:
                if latest.get(key[0], -1) >= key[1]:
                    seen[key] = now
            await asyncio.sleep(POLL_SECONDS)
    finally:
        await conn.close()


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


async def until_first_row(db_url: str, worker: asyncio.subprocess.Process,
                          timeout_s: float = 180) -> None:
    """Wait until the worker wrote its first `backup_jobs` row (it is up and processing)."""
    deadline = time.monotonic() + timeout_s
    while not await count_jobs(db_url):
        if worker.returncode is not None or time.monotonic() > deadline:
            raise SystemExit(f"the worker wrote no row within {timeout_s:.0f} s "
                             f"(exit {worker.returncode})")
        await asyncio.sleep(0.2)


async def run(args: argparse.Namespace) -> None:
    stack = read_dotenv(REPO / ".stack" / "env")
    run_id = uuid.uuid4().hex[:8]
    prefix = f"lat{run_id}."
    db_url = await fresh_database(stack["DATABASE_URL"], f"lat_{run_id}")
    tmp = Path(tempfile.mkdtemp(prefix="bench-latency-"))
    env = worker_env(stack, prefix, run_id, db_url, tmp, 4, args.web_port)
    with (tmp / "worker.log").open("wb") as log:
        worker = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "fleetstream.cli", "worker", env=env, cwd=REPO, stdout=log,
            stderr=asyncio.subprocess.STDOUT)
    jobs = [f"lat-{n:04d}" for n in range(args.jobs)]
    sent: dict[tuple[str, int], float] = {}
    seen: dict[tuple[str, int], float] = {}
    done = asyncio.Event()
    try:
        # Warm up: the worker joins its group and creates its tables on a first report; the
        # measurement starts once that report's row is there (a fixed wait measured start-up
        # when the worker was slow to join: p50 12.8 s).
        await produce(stack["KAFKA_BOOTSTRAP_SERVERS"], f"{prefix}backup", jobs[:1], 1, 1, {})
        await until_first_row(db_url, worker)
        watching = asyncio.create_task(watch(db_url, sent, seen, done))
        began = time.monotonic()
        await produce(stack["KAFKA_BOOTSTRAP_SERVERS"], f"{prefix}backup", jobs, args.rate,
                      args.seconds, sent)
        achieved = len(sent) / (time.monotonic() - began)
        done.set()
        await asyncio.wait_for(watching, 60)
    finally:
        worker.send_signal(signal.SIGTERM)
        await asyncio.wait_for(worker.wait(), 60)
    latencies = [(seen[key] - sent[key]) * 1000 for key in sent]
    print(f"latency event -> row visible at {achieved:,.0f} events/s ({len(latencies)} reports, "
          f"{args.jobs} jobs, poll {POLL_SECONDS * 1000:.0f} ms): "
          f"p50 {statistics.median(latencies):.0f} ms, p90 {percentile(latencies, 90):.0f} ms, "
          f"p99 {percentile(latencies, 99):.0f} ms, max {max(latencies):.0f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=1000.0)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--jobs", type=int, default=100)
    parser.add_argument("--web-port", type=int, default=6198)
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
