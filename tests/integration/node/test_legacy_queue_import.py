"""`fleetstream node-agent --import-legacy-queue`: seed 001's SQLite queue, created with the seed's
own DDL and filled the way the seed's `TelemetryQueue.enqueue` fills it, drained into the outbox
and on to Kafka, oldest first, invalid rows kept and reported, and a second run moving nothing."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import subprocess
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from tests.integration.helpers import AppEnv, unique

# Seed 001, Task 1, TelemetryQueue._init_db, verbatim.
SEED_DDL = (
    '''
            CREATE TABLE IF NOT EXISTS telemetry_queue (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                timestamp TEXT NOT NULL,
                payload TEXT NOT NULL,
                retry_count INTEGER DEFAULT 0,
                created_at TEXT NOT NULL,
                last_attempt_at TEXT
            )
        ''',
    '''
            CREATE INDEX IF NOT EXISTS idx_timestamp
            ON telemetry_queue(timestamp)
        ''',
    '''
            CREATE INDEX IF NOT EXISTS idx_retry_count
            ON telemetry_queue(retry_count)
        ''',
)
START = datetime(2025, 12, 17, 10, 0)


def seed_payload(node_id: str, minute: int) -> dict[str, Any]:
    """The seed's `_transform_to_api_format` output for one collection."""
    return {
        "node_id": node_id, "timestamp": (START + timedelta(minutes=minute)).isoformat() + "Z",
        "cpu_percent": 40.0 + minute, "memory_percent": 67.8, "memory_used_mb": 8704,
        "memory_total_mb": 16384, "disk_percent": 82.1, "disk_used_gb": 82.1,
        "disk_total_gb": 100.0, "network_rx_bytes": 2345678 + minute,
        "network_tx_bytes": 1234567, "network_rx_rate_mbps": 3.2, "network_tx_rate_mbps": 1.5,
        "uptime_seconds": 3600 + 60 * minute, "process_count": 234, "active_connections": 45,
        "load_avg_1m": 2.5, "load_avg_5m": 2.1, "load_avg_15m": 1.8,
    }


def enqueue(db: Path, payload: dict[str, Any] | str, retry_count: int = 0) -> None:
    """As the seed's `enqueue` (plus a retry count, as `mark_failed` leaves it)."""
    conn = sqlite3.connect(db)
    timestamp = payload.get("timestamp", datetime.utcnow().isoformat()) if isinstance(
        payload, dict) else datetime.utcnow().isoformat()
    text = json.dumps(payload) if isinstance(payload, dict) else payload
    conn.execute("INSERT INTO telemetry_queue (timestamp, payload, created_at, retry_count) "
                 "VALUES (?, ?, ?, ?)", (timestamp, text, datetime.utcnow().isoformat(),
                                         retry_count))
    conn.commit()
    conn.close()


def seed_queue(path: Path) -> None:
    conn = sqlite3.connect(path)
    for statement in SEED_DDL:
        conn.execute(statement)
    conn.commit()
    conn.close()


def left_in_queue(db: Path) -> list[tuple[int, str]]:
    conn = sqlite3.connect(db)
    try:
        return list(conn.execute("SELECT id, payload FROM telemetry_queue ORDER BY id"))
    finally:
        conn.close()


async def run_import(app_env: AppEnv, db: Path) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(app_env.run_cli, "node-agent", "--import-legacy-queue",
                                   str(db), "--timeout", "20")


async def test_seed_queue_is_imported_once_oldest_first_and_invalid_rows_are_kept(
        app_env: AppEnv, node_topic: str) -> None:
    node_id = unique("legacy-")
    db = app_env.tmp / "telemetry_queue.db"
    seed_queue(db)
    # Enqueued out of time order (a clock step, a retried row): the seed dequeues by timestamp.
    for minute in (2, 0, 1, 4):
        enqueue(db, seed_payload(node_id, minute), retry_count=minute % 2)
    no_timestamp = seed_payload(node_id, 3)
    del no_timestamp["timestamp"]
    enqueue(db, no_timestamp)  # the seed stamps the row itself then
    enqueue(db, "{not json")
    enqueue(db, {**seed_payload(node_id, 5), "cpu_percent": 250})

    first = await run_import(app_env, db)
    assert first.returncode == 1, first  # invalid rows remain: the operator must look
    assert "imported 5 snapshots" in first.stdout and "2 invalid rows kept" in first.stdout
    assert "(body): not valid JSON" in first.stdout and "cpu_percent" in first.stdout
    assert [payload for _id, payload in left_in_queue(db)] == [
        "{not json", json.dumps({**seed_payload(node_id, 5), "cpu_percent": 250})]

    records = [r for r in await app_env.consume_json("node", expect=5, timeout=20)
               if r["node_id"] == node_id]
    # Oldest first by the rows' timestamps; the row without one was stamped at enqueue (now).
    assert [round(r["cpu_percent"] - 40) for r in records] == [0, 1, 2, 4, 3]
    assert records[0]["ts"] == "2025-12-17T10:00:00Z"
    assert records[0]["memory_used_bytes"] == 8704 * 2**20
    assert records[0]["disks"][0]["mount"] == "/"
    assert records[0]["source"].startswith("legacy-queue@")

    second = await run_import(app_env, db)
    assert "imported 0 snapshots" in second.stdout, second
    again = [r for r in await app_env.consume_json("node", expect=6, timeout=5)
             if r["node_id"] == node_id]
    assert len(again) == 5, "a second run moved nothing"


async def test_a_path_that_is_not_a_seed_queue_is_refused_without_creating_it(
        app_env: AppEnv) -> None:
    missing = app_env.tmp / "nowhere" / "telemetry_queue.db"
    result = await run_import(app_env, missing)
    assert result.returncode == 1 and "no such file" in result.stdout
    assert not missing.exists()
    other = app_env.tmp / "other.db"
    sqlite3.connect(other).execute("CREATE TABLE t (x)").connection.close()
    result = await run_import(app_env, other)
    assert result.returncode == 1 and "has no telemetry_queue table" in result.stdout
