"""The fastest a Faust agent consumes a topic here: the worker's batches, no work at all.

Why it exists: `bench/backup_pipeline.py` compares the backup pipeline with a raw aiokafka
consumer, but Faust's own per-message dispatch (conductor -> channel queue -> stream) costs far
more than decoding; this no-op agent measures that floor configured exactly as the worker is
(`streams.faust_tuning`: uvloop, the shims, the tuned `faust.App` keyword arguments, and the
worker's adaptive batches, `take_batches` with the worker's batch settings).
`--without CHOICE` drops one choice (what `bench/faust_tuning.py` measures each choice's effect
with); `--untuned` drops them all (Faust as it comes). `--changelogs N` makes the agent do the
Kafka writes the worker's job cannot do without and nothing else: for each key of a batch, N
table writes (the worker writes two: the job's state and its rollup pane), each a changelog
record of the event's size, sent as the worker sends them (`streams.kafka_batches`, a batch per
partition, acknowledged before the next batch) or, with `--faust-changelogs`, through Faust's
per-record `send_changelog` as the worker did before. Run as a subprocess; prints
`floor_events_per_second=N floor_cpu_us_per_event=M` (Faust routes it through its log) and
exits.

    python bench/faust_floor.py TOPIC EVENTS PARTITIONS [--untuned] [--without CHOICE]...
        [--changelogs N [--faust-changelogs]]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import uuid
from typing import Any

from common import gc_policy
from common.settings import WORKER, Settings
from streams import faust_tuning

CHOICES = ("uvloop", "fetch_wait", "quiet_root_logger", "consumer_max_fetch_size",
           "cython_optimizations", "gc_policy")

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("topic")
parser.add_argument("events", type=int)
parser.add_argument("partitions", type=int)
parser.add_argument("--untuned", action="store_true", help="Faust's defaults, no shim, no uvloop")
parser.add_argument("--without", action="append", default=[], choices=CHOICES,
                    help="drop one tuning choice (repeatable)")
parser.add_argument("--set", action="append", default=[], metavar="KEY=INT",
                    help="override one faust.App keyword argument (integer value)")
parser.add_argument("--changelogs", type=int, default=0, metavar="N",
                    help="table writes per key of each batch (the worker's job: 2)")
parser.add_argument("--faust-changelogs", action="store_true",
                    help="send them with Faust's send_changelog, not streams.kafka_batches")
args = parser.parse_args()
dropped = set(CHOICES) if args.untuned else set(args.without)
settings = Settings.load(process=WORKER)

# Before faust is imported: the app below is built at import, and with it its event loop.
if "uvloop" not in dropped:
    faust_tuning.use_uvloop()

import faust  # noqa: E402

from streams.kafka_batches import KafkaBatches  # noqa: E402
from streams.pipeline import agent  # noqa: E402

if "fetch_wait" not in dropped:
    faust_tuning.patch_fetch_max_wait(settings.fetch_max_wait_ms)
if "quiet_root_logger" not in dropped:
    faust_tuning.patch_quiet_root_logger()
tuning = {} if args.untuned else faust_tuning.tuned_app_kwargs()
for choice in dropped:
    tuning.pop(choice, None)
for override in args.set:
    key, value = override.split("=", 1)
    tuning[key] = int(value)

TOPIC, TOTAL = args.topic, args.events
app = faust.App(f"floor-{uuid.uuid4().hex[:8]}",
                broker=f"kafka://{settings.kafka_bootstrap_servers}", store="memory://",
                web_enabled=False, consumer_auto_offset_reset="earliest",
                stream_wait_empty=False, datadir=tempfile.mkdtemp(prefix="faust-floor-"),
                topic_partitions=args.partitions, **tuning)
topic = app.topic(TOPIC, key_type=bytes, value_type=bytes, key_serializer="raw",
                  value_serializer="raw")
tables = [app.Table(f"floor-{n}", default=None, partitions=args.partitions, key_type=bytes,
                    value_type=bytes) for n in range(args.changelogs)]
for table in tables:
    table.key_serializer = table.value_serializer = "raw"
    table.changelog_topic = table._new_changelog_topic()


changelogs = KafkaBatches(lambda: faust_tuning.kafka_producer(app))


async def write_changelogs(batch: Any) -> None:
    """For each key of the batch, its latest event into every table (as `KeyedState.put`),
    acknowledged (as the runtime's step 7)."""
    latest = {event.message.key: event.message for event in batch}
    for key, message in latest.items():
        for table in tables:
            table.data[key] = message.value
            if args.faust_changelogs:
                table.send_changelog(message.partition, key, message.value)
            else:
                changelogs.add(table.changelog_topic.get_topic_name(), message.partition, key,
                               message.value)
    await changelogs.send()


@app.agent(topic)
async def count(stream: Any) -> None:
    seen = 0
    started = cpu_started = 0.0
    batches = agent.batches(app, stream, within=settings.batch_wait_seconds,
                            max_batch=settings.batch_max_events,
                            batch_max_sec=settings.batch_max_sec)
    async for batch in batches:
        if not seen:
            started, cpu_started = time.perf_counter(), time.process_time()
        seen += len(batch)
        if tables:
            await write_changelogs(batch)
        if seen >= TOTAL:
            # CPU of the whole process (the consumer thread included), per event.
            cpu_us = 1e6 * (time.process_time() - cpu_started) / seen
            print(f"floor_events_per_second={seen / (time.perf_counter() - started):.0f} "
                  f"floor_cpu_us_per_event={cpu_us:.1f}", flush=True)
            # A benchmark probe: leave at once instead of a graceful worker shutdown.
            os._exit(0)


if __name__ == "__main__":
    # Faust's worker command defaults to --with-web, which overrides web_enabled=False and binds
    # port 6066 (colliding with a real worker on this machine).
    sys.argv = [sys.argv[0], "worker", "--without-web", "--loglevel", "warn"]
    if "gc_policy" not in dropped:
        gc_policy.tune_for_throughput()
    app.main()
