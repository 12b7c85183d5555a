"""What each Faust tuning choice is worth: the no-op floor with and without it, next to the ceiling.

Why it exists: every choice in `streams/faust_tuning.py` must be justified by a measurement
(`docs/performance.md`). This pre-produces the backup events once (`bench/backup_pipeline.py`'s
generator), then runs round after round, each round measuring the raw aiokafka ceiling and the
Faust floor (`bench/faust_floor.py`) in every variant, interleaved so that load from other work on
the machine spreads over all of them; prints min/median events/s per variant, the median's
ratio to the median ceiling, and the median CPU microseconds per event (steadier under load).
With `--worker`, instead: the fleetstream worker itself (`bench/backup_pipeline.py`'s timing,
first row -> every job final) per fetch wait, where handling a fetch takes long enough for the
stall to show. With `--idle`: the CPU an idle worker consumer burns per fetch wait (a shorter
wait means more empty fetches), on a topic that receives nothing.

    python bench/faust_tuning.py [--jobs 1000] [--disks 4] [--updates 25] [--rounds 3]
        [--variant NAME ...]
    python bench/faust_tuning.py --worker [--rounds 3]
    python bench/faust_tuning.py --idle [--idle-seconds 20]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from backup_pipeline import (
    REPO,
    Rate,
    ceiling,
    faust_floor,
    fresh_database,
    make_events,
    produce,
    run_worker,
    worker_env,
)

from common.settings import read_dotenv

# name -> (faust_floor.py options, extra environment)
VARIANTS: dict[str, tuple[tuple[str, ...], dict[str, str]]] = {
    "untuned (Faust as it comes)": (("--untuned",), {}),
    "tuned (the worker's configuration)": ((), {}),
    "tuned without uvloop": (("--without", "uvloop"), {}),
    "tuned without quiet root logger": (("--without", "quiet_root_logger"), {}),
    "tuned without 4 MiB fetch (1 MiB)": (("--without", "consumer_max_fetch_size"), {}),
    "tuned without cython_optimizations": (("--without", "cython_optimizations"), {}),
    "tuned, fetch wait 100 ms": ((), {"FLEETSTREAM_FETCH_MAX_WAIT_MS": "100"}),
    "tuned, fetch wait 10 ms": ((), {"FLEETSTREAM_FETCH_MAX_WAIT_MS": "10"}),
    "tuned, stream_buffer_maxsize 16384": (("--set", "stream_buffer_maxsize=16384"), {}),
    "tuned, NO_CYTHON=1 (pure-Python paths)": ((), {"NO_CYTHON": "1"}),
}


IDLE_FETCH_WAITS_MS = (10, 100, 500, 1500)
WORKER_FETCH_WAITS_MS = (1500, 500, 100, 10)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def idle_cpu(bootstrap: str, topic: str, fetch_wait_ms: int, seconds: float) -> float:
    """CPU share (percent of one core) of a tuned floor consumer waiting on an empty topic."""
    probe = await asyncio.create_subprocess_exec(
        sys.executable, str(REPO / "bench" / "faust_floor.py"), topic, "1", "4",
        env={**os.environ, "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
             "FLEETSTREAM_FETCH_MAX_WAIT_MS": str(fetch_wait_ms)},
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
    try:
        await asyncio.sleep(15)  # start-up, group join and partition assignment
        before, started = cpu_seconds(probe.pid), time.perf_counter()
        await asyncio.sleep(seconds)
        return 100 * (cpu_seconds(probe.pid) - before) / (time.perf_counter() - started)
    finally:
        probe.send_signal(signal.SIGKILL)
        await probe.wait()


async def run_idle(args: argparse.Namespace, bootstrap: str) -> None:
    topic = f"bench{uuid.uuid4().hex[:8]}.idle"
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, 4, 1)])
    finally:
        await admin.close()
    print(f"idle consumer on {topic}, {args.idle_seconds:.0f}s each; "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    for wait_ms in IDLE_FETCH_WAITS_MS:
        share = await idle_cpu(bootstrap, topic, wait_ms, args.idle_seconds)
        print(f"fetch wait {wait_ms:5d} ms: {share:5.1f}% of a core while idle", flush=True)


async def run_workers(args: argparse.Namespace, stack: dict[str, str]) -> None:
    bootstrap = stack["KAFKA_BOOTSTRAP_SERVERS"]
    run_id = uuid.uuid4().hex[:8]
    prefix = f"bench{run_id}."
    total = args.jobs * args.disks * args.updates
    await produce(bootstrap, f"{prefix}backup", args.partitions,
                  make_events(args.jobs, args.disks, args.updates))
    print(f"produced {total} events to {prefix}backup; load average {os.getloadavg()[0]:.1f} "
          f"on {os.cpu_count()} CPUs", flush=True)
    args.profile = False
    results: dict[int, list[float]] = {wait_ms: [] for wait_ms in WORKER_FETCH_WAITS_MS}
    for round_no in range(1, args.rounds + 1):
        for wait_ms in WORKER_FETCH_WAITS_MS:
            name = f"{run_id}_{round_no}_{wait_ms}"
            db_url = await fresh_database(stack["DATABASE_URL"], f"bench_{name}")
            tmp = Path(tempfile.mkdtemp(prefix="bench-fetch-wait-"))
            env = {**worker_env(stack, prefix, name, db_url, tmp, args.partitions, 6197),
                   "FLEETSTREAM_FETCH_MAX_WAIT_MS": str(wait_ms)}
            first_row, finished, *_ = await run_worker(args, env, tmp, tmp / "worker.prof", db_url)
            results[wait_ms].append(total / (finished - first_row))
        print(f"round {round_no}: " + ", ".join(f"{wait_ms} ms {figures[-1]:.0f}/s"
                                                for wait_ms, figures in results.items())
              + f"; load average {os.getloadavg()[0]:.1f}", flush=True)
    print(f"{'worker fetch wait':18} {'min/s':>7} {'median/s':>8}   runs")
    for wait_ms, figures in results.items():
        runs = " ".join(f"{figure:.0f}" for figure in figures)
        print(f"{wait_ms:15d} ms {min(figures):7.0f} {statistics.median(figures):8.0f}   {runs}")


async def run(args: argparse.Namespace) -> None:
    stack = read_dotenv(REPO / ".stack" / "env")
    bootstrap = stack["KAFKA_BOOTSTRAP_SERVERS"]
    if args.idle:
        await run_idle(args, bootstrap)
        return
    if args.worker:
        await run_workers(args, stack)
        return
    topic = f"bench{uuid.uuid4().hex[:8]}.backup"
    total = args.jobs * args.disks * args.updates
    await produce(bootstrap, topic, args.partitions,
                  make_events(args.jobs, args.disks, args.updates))
    load = os.getloadavg()[0]
    print(f"produced {total} events to {topic}; load average {load:.1f} on {os.cpu_count()} CPUs")
    chosen = {name: VARIANTS[name] for name in args.variant} if args.variant else VARIANTS
    results: dict[str, list[Rate]] = {name: [] for name in ["raw ceiling", *chosen]}
    for round_no in range(1, args.rounds + 1):
        started = time.perf_counter()
        results["raw ceiling"].append(await ceiling(bootstrap, topic, total))
        for name, (options, env) in chosen.items():
            results[name].append(await faust_floor(bootstrap, topic, total, args.partitions,
                                                   *options, env=env))
        print(f"round {round_no} done in {time.perf_counter() - started:.0f}s, "
              f"load average {os.getloadavg()[0]:.1f}", flush=True)
    raw = statistics.median(rate.events_per_second for rate in results["raw ceiling"])
    print(f"{'variant':42} {'min/s':>7} {'median/s':>8} {'/ceiling':>8} {'CPU us/ev':>9}   "
          "runs (events/s)")
    for name, rates in results.items():
        figures = [rate.events_per_second for rate in rates]
        median = statistics.median(figures)
        cpu = statistics.median(rate.cpu_us_per_event for rate in rates)
        runs = " ".join(f"{figure:.0f}" for figure in figures)
        cpu_runs = " ".join(f"{rate.cpu_us_per_event:.0f}" for rate in rates)
        print(f"{name:42} {min(figures):7.0f} {median:8.0f} {median / raw:8.3f} {cpu:9.1f}   "
              f"{runs} (CPU us: {cpu_runs})")

def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--disks", type=int, default=4)
    parser.add_argument("--updates", type=int, default=25)
    parser.add_argument("--partitions", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--variant", action="append", choices=sorted(VARIANTS),
                        help="measure only this variant (repeatable)")
    parser.add_argument("--worker", action="store_true",
                        help="measure the fleetstream worker per fetch wait instead")
    parser.add_argument("--idle", action="store_true",
                        help="measure an idle consumer's CPU per fetch wait instead")
    parser.add_argument("--idle-seconds", type=float, default=20.0)
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
