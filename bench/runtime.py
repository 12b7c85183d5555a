"""The pipeline runtime alone: events/s of fleetstream's own per-event code, no Kafka, no servers.

Why it exists: the worker's throughput is Faust's per-message cost plus ours; this measures ours
as a number of its own. The same backup events as `bench/backup_pipeline.py` (jobs x disks x
updates, by round) go through `Pipeline.process` with the real backup domain (decode, fold,
project rows and points) in batches of FLEETSTREAM_BATCH_MAX_EVENTS (the size the worker's
batches grow to while a backlog waits; `--batch` for another), into sinks that keep nothing, a
dict as the table, and an outbound that sends nothing. One process, one core.

    python bench/runtime.py [--jobs 1000] [--disks 4] [--updates 50] [--runs 3] [--batch N]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.backup_pipeline import Rate, make_events
from common import gc_policy
from common.settings import SETTINGS
from schemas.alert import Alert
from streams.domain.backup import SAMPLE_WINDOW
from streams.pipeline.domain import Domain, Record
from streams.pipeline.health import SinkHealth
from streams.pipeline.runtime import Pipeline, Rejection
from streams.pipeline.sink import Sink
from streams.pipeline.stores import DictStore

BATCH = next(int(s.default or 0) for s in SETTINGS if s.attr == "batch_max_events")
"""The worker's FLEETSTREAM_BATCH_MAX_EVENTS default."""


class Discard(Sink):
    """A sink that takes everything and keeps a count."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.records = 0

    async def write(self, records: Sequence[Any]) -> None:
        self.records += len(records)


class Silent:
    async def alerts(self, alerts: Sequence[Alert]) -> None:
        return None

    async def dead_letters(self, rejections: Sequence[Rejection]) -> None:
        raise AssertionError(f"bench events were rejected: {rejections[0].reason}")


def backup_domain() -> Domain[Any]:
    # The agent module builds the worker's pipeline at import; the domain class alone is pure.
    import os

    os.environ.setdefault("FLEETSTREAM_LOG_LEVEL", "error")
    from streams.agents.backup import BackupJobs

    return BackupJobs(60, 300, 86_400)


async def one_run(records: list[Record], domain: Domain[Any], batch: int) -> Rate:
    sinks = [Discard("postgres"), Discard("points")]
    pipeline: Pipeline[Any] = Pipeline(domain, DictStore(), sinks, Silent(), SinkHealth(),
                                       max_clock_skew_s=300)
    now = int(time.time() * 1_000_000)
    began, cpu_began = time.perf_counter(), time.process_time()
    for start in range(0, len(records), batch):
        await pipeline.process(records[start:start + batch], now)
    return Rate(len(records) / (time.perf_counter() - began),
                1e6 * (time.process_time() - cpu_began) / len(records))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--disks", type=int, default=4)
    parser.add_argument("--updates", type=int, default=50)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--batch", type=int, default=BATCH, help="events per batch")
    parser.add_argument("--default-gc", action="store_true",
                        help="CPython's default collector thresholds, not the worker's")
    args = parser.parse_args()
    events = make_events(args.jobs, args.disks, args.updates)
    partitions = 4
    records = [Record("bench", hash(key) % partitions, offset, key, value)
               for offset, (key, value) in enumerate(events)]
    domain = backup_domain()
    if not args.default_gc:
        gc_policy.tune_for_throughput()  # as `fleetstream worker` runs it
    rates = [asyncio.run(one_run(records, domain, args.batch)) for _ in range(args.runs)]
    per_second = [rate.events_per_second for rate in rates]
    cpu_us = [rate.cpu_us_per_event for rate in rates]
    print(f"pipeline runtime alone (backup domain, in-memory sinks, batches of {args.batch}, "
          f"{len(records)} events, window {SAMPLE_WINDOW}, "
          f"{'default' if args.default_gc else 'worker'} gc): "
          f"min {min(per_second):,.0f} / median {statistics.median(per_second):,.0f} events/s, "
          f"CPU min {min(cpu_us):.1f} / median {statistics.median(cpu_us):.1f} µs/event "
          f"over {args.runs} runs")


if __name__ == "__main__":
    main()
