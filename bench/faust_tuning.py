"""What each Faust tuning choice is worth: the no-op floor with and without it, next to the ceiling.

Why it exists: every choice in `streams/faust_tuning.py` must be justified by a measurement
(`docs/performance.md`). This pre-produces the backup events once (`bench/backup_pipeline.py`'s
generator), then runs round after round, each round measuring the raw aiokafka ceiling and the
Faust floor (`bench/faust_floor.py`) in every variant, interleaved so that load from other work on
the machine spreads over all of them; prints min/median events/s per variant and the median's
ratio to the median ceiling.

    python bench/faust_tuning.py [--jobs 1000] [--disks 4] [--updates 25] [--rounds 3]
        [--variant NAME ...]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
import uuid

from backup_pipeline import REPO, ceiling, faust_floor, make_events, produce

from common.settings import read_dotenv

# name -> (faust_floor.py options, extra environment)
VARIANTS: dict[str, tuple[tuple[str, ...], dict[str, str]]] = {
    "untuned (Faust as it comes)": (("--untuned",), {}),
    "tuned (the worker's configuration)": ((), {}),
    "tuned without uvloop": (("--without", "uvloop"), {}),
    "tuned without fetch-wait shim (1500 ms)": (("--without", "fetch_wait"), {}),
    "tuned without 4 MiB fetch (1 MiB)": (("--without", "consumer_max_fetch_size"), {}),
    "tuned without cython_optimizations": (("--without", "cython_optimizations"), {}),
    "tuned, fetch wait 10 ms": ((), {"FLEETSTREAM_FETCH_MAX_WAIT_MS": "10"}),
    "tuned, fetch wait 500 ms": ((), {"FLEETSTREAM_FETCH_MAX_WAIT_MS": "500"}),
    "tuned, stream_buffer_maxsize 16384": (("--set", "stream_buffer_maxsize=16384"), {}),
    "tuned, NO_CYTHON=1 (pure-Python paths)": ((), {"NO_CYTHON": "1"}),
}


async def run(args: argparse.Namespace) -> None:
    stack = read_dotenv(REPO / ".stack" / "env")
    bootstrap = stack["KAFKA_BOOTSTRAP_SERVERS"]
    topic = f"bench{uuid.uuid4().hex[:8]}.backup"
    total = args.jobs * args.disks * args.updates
    await produce(bootstrap, topic, args.partitions,
                  make_events(args.jobs, args.disks, args.updates))
    load = os.getloadavg()[0]
    print(f"produced {total} events to {topic}; load average {load:.1f} on {os.cpu_count()} CPUs")
    chosen = {name: VARIANTS[name] for name in args.variant} if args.variant else VARIANTS
    results: dict[str, list[float]] = {name: [] for name in ["raw ceiling", *chosen]}
    for round_no in range(1, args.rounds + 1):
        started = time.perf_counter()
        results["raw ceiling"].append(await ceiling(bootstrap, topic, total))
        for name, (options, env) in chosen.items():
            results[name].append(await faust_floor(bootstrap, topic, total, args.partitions,
                                                   *options, env=env))
        print(f"round {round_no} done in {time.perf_counter() - started:.0f}s, "
              f"load average {os.getloadavg()[0]:.1f}", flush=True)
    raw = statistics.median(results["raw ceiling"])
    print(f"{'variant':42} {'min':>8} {'median':>8} {'/ceiling':>9}   runs")
    for name, figures in results.items():
        median = statistics.median(figures)
        runs = " ".join(f"{figure:.0f}" for figure in figures)
        print(f"{name:42} {min(figures):8.0f} {median:8.0f} {median / raw:9.3f}   {runs}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--disks", type=int, default=4)
    parser.add_argument("--updates", type=int, default=25)
    parser.add_argument("--partitions", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--variant", action="append", choices=sorted(VARIANTS),
                        help="measure only this variant (repeatable)")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
