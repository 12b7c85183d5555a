"""The pipeline runtime alone: events/s of fleetstream's own per-event code, no Kafka, no servers.

Why it exists: the worker's throughput is Faust's per-message cost plus ours; this measures ours
as a number of its own. The same backup events as `bench/backup_pipeline.py` (jobs x disks x
updates, by round) go through `Pipeline.process` with the real backup domain (decode, fold,
project rows and points) in batches of BATCH_MAX_LINES, into sinks that keep nothing, a dict
as the table, and an outbound that sends nothing. One process, one core.

    python bench/runtime.py [--jobs 1000] [--disks 4] [--updates 50] [--runs 3]
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

from bench.backup_pipeline import make_events
from schemas.alert import Alert
from streams.domain.backup import SAMPLE_WINDOW
from streams.pipeline.domain import Domain, Record
from streams.pipeline.health import SinkHealth
from streams.pipeline.runtime import Pipeline, Rejection
from streams.pipeline.sink import Sink
from streams.pipeline.stores import DictStore

BATCH = 2000


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


async def one_run(records: list[Record], domain: Domain[Any]) -> float:
    sinks = [Discard("postgres"), Discard("points")]
    pipeline: Pipeline[Any] = Pipeline(domain, DictStore(), sinks, Silent(), SinkHealth(),
                                       max_clock_skew_s=300)
    now = int(time.time() * 1_000_000)
    began = time.perf_counter()
    for start in range(0, len(records), BATCH):
        await pipeline.process(records[start:start + BATCH], now)
    return len(records) / (time.perf_counter() - began)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--disks", type=int, default=4)
    parser.add_argument("--updates", type=int, default=50)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    events = make_events(args.jobs, args.disks, args.updates)
    partitions = 4
    records = [Record("bench", hash(key) % partitions, offset, key, value)
               for offset, (key, value) in enumerate(events)]
    domain = backup_domain()
    rates = [asyncio.run(one_run(records, domain)) for _ in range(args.runs)]
    print(f"pipeline runtime alone (backup domain, in-memory sinks, batches of {BATCH}, "
          f"{len(records)} events, window {SAMPLE_WINDOW}): "
          f"min {min(rates):,.0f} / median {statistics.median(rates):,.0f} events/s "
          f"over {args.runs} runs")


if __name__ == "__main__":
    main()
