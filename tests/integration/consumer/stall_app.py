"""A Faust app that makes Faust drop a partition's tail, for `test_stalled_partitions.py`.

Why it exists: the drop happens in Faust's consumer at a rebalance, by timing; this app puts the
consumer in the very state the drop leaves (its read offset past records it never delivered)
and lets the real fetcher drop the records produced after that, on a real broker. Each record
the agent gets is printed as `processed OFFSET`; `injected COMMITTED` once the read offset was
moved. With `--watch` the stalled-partition watch runs (stall time 2 s). The worker's commit
rules apply (no gap filling, the head-hole guard).

    python tests/integration/consumer/stall_app.py TOPIC BEFORE [--watch]
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

import faust
from faust.types import TP

from common.settings import WORKER, Settings
from streams import faust_tuning, stalled_partitions

parser = argparse.ArgumentParser()
parser.add_argument("topic")
parser.add_argument("before", type=int,
                    help="records to process before the read offset moves (-1: never)")
parser.add_argument("--watch", action="store_true")
args = parser.parse_args()
settings = Settings.load(process=WORKER)
# The worker's commit rules: no gap filled in, a hole at the head read again (`streams.app`).
faust_tuning.patch_no_gap_filling()
faust_tuning.patch_commit_only_from_the_committed_head()

app = faust.App(f"stall-{uuid.uuid4().hex[:8]}",
                broker=f"kafka://{settings.kafka_bootstrap_servers}", store="memory://",
                web_enabled=False, consumer_auto_offset_reset="earliest",
                stream_wait_empty=False, datadir=tempfile.mkdtemp(prefix="faust-stall-"),
                topic_partitions=1, broker_commit_interval=0.5)
topic = app.topic(args.topic, key_type=bytes, value_type=bytes, key_serializer="raw",
                  value_serializer="raw", partitions=1)
TP0 = TP(args.topic, 0)
injected: list[int] = []

if args.watch:
    stalled_partitions.watch(app, stall_s=2.0)


def say(line: str) -> None:
    print(line, flush=True)


@app.task
async def announce() -> None:
    say(f"group {app.conf.id}")


@app.agent(topic)
async def process(stream: Any) -> None:
    async for event in stream.events():
        say(f"processed {event.message.offset}")


@app.timer(0.2)
async def inject() -> None:
    """Once the first records are committed: the read offset past all, as a drop leaves it."""
    consumer: Any = app.consumer
    if not injected and consumer._committed_offset.get(TP0) == args.before:
        consumer._read_offset[TP0] = 10**9
        injected.append(args.before)
        say(f"injected {args.before}")


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING)
    sys.argv = [sys.argv[0], "worker", "--without-web", "--loglevel", "warn"]
    app.main()
