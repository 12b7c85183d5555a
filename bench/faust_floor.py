"""The fastest a Faust agent consumes a topic here: `take_events` batches, no work at all.

Why it exists: `bench/backup_pipeline.py` compares the backup pipeline with a raw aiokafka
consumer, but Faust's own per-message dispatch (conductor -> channel queue -> stream) costs far
more than decoding; this no-op agent measures that floor with the same batch settings as the
workers. Run by the pipeline bench as a subprocess; prints `floor_events_per_second=N` (Faust
routes it through its log) and exits.

    python bench/faust_floor.py TOPIC EVENTS PARTITIONS
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
import uuid
from typing import Any

import faust

TOPIC, TOTAL, PARTITIONS = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
BROKER = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")

app = faust.App(f"floor-{uuid.uuid4().hex[:8]}", broker=f"kafka://{BROKER}", store="memory://",
                web_enabled=False, consumer_auto_offset_reset="earliest",
                stream_wait_empty=False, datadir=tempfile.mkdtemp(prefix="faust-floor-"),
                topic_partitions=PARTITIONS)
topic = app.topic(TOPIC, key_type=bytes, value_type=bytes, key_serializer="raw",
                  value_serializer="raw")


@app.agent(topic)
async def count(stream: Any) -> None:
    seen = 0
    started = None
    async for batch in stream.take_events(2000, within=1.0):
        started = started or time.perf_counter()
        seen += len(batch)
        if seen >= TOTAL:
            print(f"floor_events_per_second={TOTAL / (time.perf_counter() - started):.0f}",
                  flush=True)
            # A benchmark probe: leave at once instead of a graceful worker shutdown.
            os._exit(0)


if __name__ == "__main__":
    sys.argv = [sys.argv[0], "worker", "--loglevel", "warn"]
    app.main()
