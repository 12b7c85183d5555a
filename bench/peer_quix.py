"""The backup job in Quix Streams 3.x: the peer fleetstream's worker is compared with.

Why it exists: `bench/peer.py` needs the same job done by another Python stream processor, to
tell what Faust's design costs from what our own code costs. The job is the worker's, reduced to
its core: decode and validate each event with fleetstream's own `schemas` (pydantic), keep per
job the latest bytes of each disk in Quix state (RocksDB, changelogged to Kafka as Faust tables
are), and upsert each job's row (bytes = sum over its disks) into PostgreSQL in batches, newest
`seq` wins. Commits every second, as the worker does (`broker_commit_interval`, `BATCH_MAX_SEC`).

Runs in its own virtualenv (`.venv-peer`, see `bench/peer-requirements.txt`), with the repository
on PYTHONPATH for `schemas`; stops on SIGTERM.

    python bench/peer_quix.py TOPIC DATABASE_URL CONSUMER_GROUP STATE_DIR
"""

from __future__ import annotations

import os
import sys
from typing import Any

import psycopg
from quixstreams import Application, State
from quixstreams.models.serializers import Deserializer
from quixstreams.sinks import BatchingSink, SinkBatch

from schemas.backup import BackupProgress
from schemas.event import decode

TABLE = "peer_backup_jobs"
UPSERT = f"""
INSERT INTO {TABLE} (job_id, status, bytes_transferred, total_bytes, seq)
VALUES (%s, %s, %s, %s, %s)
ON CONFLICT (job_id) DO UPDATE SET status = EXCLUDED.status,
    bytes_transferred = EXCLUDED.bytes_transferred, total_bytes = EXCLUDED.total_bytes,
    seq = EXCLUDED.seq
WHERE {TABLE}.seq < EXCLUDED.seq
"""


class ProgressDeserializer(Deserializer):  # type: ignore[misc]
    """Values as fleetstream's worker decodes them: validated `BackupProgress` events."""

    def __call__(self, value: bytes, ctx: Any) -> BackupProgress:
        return decode(BackupProgress, value)


class JobSink(BatchingSink):  # type: ignore[misc]
    """Upserts the newest row of each job in a batch, in one round trip per batch."""

    def __init__(self, url: str) -> None:
        super().__init__()
        self._url = url
        self._conn: psycopg.Connection[Any] | None = None

    def setup(self) -> None:
        self._conn = psycopg.connect(self._url, autocommit=True)
        self._conn.execute(f"CREATE TABLE IF NOT EXISTS {TABLE} (job_id text PRIMARY KEY, "
                           "status text, bytes_transferred bigint, total_bytes bigint, seq bigint)")

    def write(self, batch: SinkBatch) -> None:
        newest: dict[str, dict[str, Any]] = {}
        for item in batch:
            row = item.value
            if row["job_id"] not in newest or newest[row["job_id"]]["seq"] < row["seq"]:
                newest[row["job_id"]] = row
        assert self._conn is not None
        with self._conn.cursor() as cursor:
            cursor.executemany(UPSERT, [
                (r["job_id"], r["status"], r["bytes_transferred"], r["total_bytes"], r["seq"])
                for r in newest.values()])


def fold(event: BackupProgress, state: State) -> dict[str, Any]:
    """The job after this report: the latest bytes per disk, summed."""
    disks: dict[str, int] = state.get("disks", {})
    for disk in event.disks:
        disks[str(disk.disk_index)] = disk.bytes_transferred
    state.set("disks", disks)
    return {"job_id": event.job_id, "status": event.status, "seq": event.seq,
            "bytes_transferred": sum(disks.values()), "total_bytes": event.total_bytes}


def main() -> None:
    topic_name, url, group, state_dir = sys.argv[1:5]
    app = Application(
        broker_address=os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092"),
        consumer_group=group, auto_offset_reset="earliest", commit_interval=1.0,
        state_dir=state_dir, loglevel="WARNING")
    topic = app.topic(topic_name, key_deserializer="str", value_deserializer=ProgressDeserializer())
    sdf = app.dataframe(topic)
    sdf = sdf.apply(fold, stateful=True)
    sdf.sink(JobSink(url))
    app.run()


if __name__ == "__main__":
    main()
