"""`fleetstream outbox` over real outbox files made by `producers.outbox` / `producers.publisher`.

Also pins what the command relies on: `read_stats` reads a file its producer holds open without
waiting for it, a file of the release before the `meta` table reads fine, and the publisher's
delivery loop persists its last error.
"""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from common.settings import Settings
from producers.outbox import Outbox, read_stats
from producers.publisher import Publisher
from tests.integration.helpers import free_port

FLEETSTREAM = str(Path(sys.executable).parent / "fleetstream")


def _cli(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("FLEETSTREAM_")}
    return subprocess.run([FLEETSTREAM, "outbox", *args],
                          env={**clean, "FLEETSTREAM_DATA_DIR": str(data_dir)},
                          capture_output=True, text=True, timeout=60, check=False)


async def _make_outbox(data_dir: Path, name: str, values: list[bytes], max_events: int = 100,
                       error: str | None = None) -> Outbox:
    outbox = Outbox(data_dir / "outbox" / f"{name}.sqlite3", max_events=max_events,
                    max_bytes=1 << 20)
    for value in values:
        await outbox.put("telemetry.node", b"k", value)
    if error is not None:
        await outbox.record_error(error, at=1_767_225_600.0)  # 2026-01-01T00:00:00Z
    await outbox.stats()  # the file is created on first use
    return outbox


async def test_the_command_shows_backlog_drops_and_last_error(tmp_path: Path) -> None:
    before = time.time()
    node = await _make_outbox(tmp_path, "node-agent", [b"x" * 10] * 5, max_events=3,
                              error="KafkaConnectionError: Unable to bootstrap from 10.0.0.9")
    await node.close()
    empty = await _make_outbox(tmp_path, "heartbeat-gpu-1", [])
    await empty.close()

    result = await asyncio.to_thread(_cli, tmp_path, "--json")
    assert result.returncode == 0, result.stderr
    by_name = {entry["name"]: entry for entry in json.loads(result.stdout)}
    assert set(by_name) == {"node-agent", "heartbeat-gpu-1"}
    node_entry = by_name["node-agent"]
    assert (node_entry["events"], node_entry["bytes"], node_entry["dropped"]) == (3, 33, 2)
    assert node_entry["last_error"].startswith("KafkaConnectionError")
    assert node_entry["last_error_at"] == "2026-01-01T00:00:00Z"
    assert 0 <= node_entry["oldest_age_seconds"] <= time.time() - before + 1
    assert by_name["heartbeat-gpu-1"]["events"] == 0
    assert by_name["heartbeat-gpu-1"]["oldest_enqueued_at"] is None

    text = await asyncio.to_thread(_cli, tmp_path)
    header, *rows = text.stdout.splitlines()
    assert header.split()[:5] == ["OUTBOX", "EVENTS", "BYTES", "OLDEST", "DROPPED"]
    assert rows[1].split()[:3] == ["node-agent", "3", "33"]
    assert "2026-01-01T00:00:00Z KafkaConnectionError" in rows[1]
    assert rows[0].split()[:3] == ["heartbeat-gpu-1", "0", "0"] and rows[0].endswith("-")


async def test_a_running_producer_is_neither_blocked_nor_blocking(tmp_path: Path) -> None:
    outbox = await _make_outbox(tmp_path, "vm-agent", [b"a", b"b"])
    writer = sqlite3.connect(outbox.path, isolation_level=None)
    try:
        # The producer is in the middle of a write transaction: the reader does not wait for it.
        writer.execute("BEGIN IMMEDIATE")
        writer.execute("UPDATE counters SET value = value WHERE name = 'dropped'")
        started = time.monotonic()
        stats = read_stats(outbox.path, timeout=5.0)
        assert time.monotonic() - started < 1.0
        assert stats.depth == 2
        writer.execute("COMMIT")
        # ...and the producer keeps writing after (and while) the file was read.
        await outbox.put("telemetry.vm", b"k", b"c")
        assert read_stats(outbox.path).depth == 3
    finally:
        writer.close()
        await outbox.close()


async def test_a_file_from_before_the_meta_table_reads_and_upgrades(tmp_path: Path) -> None:
    outbox = await _make_outbox(tmp_path, "node-agent", [b"old"])
    await outbox.close()
    with sqlite3.connect(outbox.path) as conn:
        conn.execute("DROP TABLE meta")
    stats = read_stats(outbox.path)
    assert (stats.depth, stats.last_error, stats.last_error_at) == (1, None, None)
    reopened = await _make_outbox(tmp_path, "node-agent", [], error="boom")
    assert (await reopened.stats()).last_error == "boom"
    await reopened.close()
    assert read_stats(outbox.path).last_error == "boom"


async def test_an_unreadable_file_is_reported_and_the_others_shown(tmp_path: Path) -> None:
    good = await _make_outbox(tmp_path, "node-agent", [b"v"],
                              error="broker said \x1b[2J\x1b]0;pwned\x07")
    await good.close()
    (tmp_path / "outbox" / "broken.sqlite3").write_bytes(b"this is not a database" * 100)
    result = await asyncio.to_thread(_cli, tmp_path)
    assert result.returncode == 1
    assert "\x1b" not in result.stdout and "\x07" not in result.stdout
    assert "broker said \\x1b[2J\\x1b]0;pwned\\x07" in result.stdout
    broken = next(line for line in result.stdout.splitlines() if line.startswith("broken"))
    assert "unreadable" in broken


async def test_no_outbox_directory_says_so(tmp_path: Path) -> None:
    result = await asyncio.to_thread(_cli, tmp_path)
    assert result.returncode == 0
    assert result.stdout.strip() == f"no outboxes in {tmp_path / 'outbox'}"


async def test_the_publisher_persists_its_last_delivery_error(tmp_path: Path) -> None:
    settings = Settings.load({"FLEETSTREAM_DATA_DIR": str(tmp_path),
                              "KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{free_port()}"},
                             dotenv=None)
    publisher = Publisher("node-agent", settings, request_timeout_ms=1000,
                          retry_backoff_initial=0.05, retry_backoff_max=0.2)
    await publisher.start()
    try:
        await publisher.publish("telemetry.node", b"k", b"v")
        path = tmp_path / "outbox" / "node-agent.sqlite3"
        deadline = time.monotonic() + 20
        while read_stats(path).last_error is None:
            assert time.monotonic() < deadline, "no delivery error was recorded"
            await asyncio.sleep(0.1)
        stats = read_stats(path)
        assert stats.depth == 1 and stats.last_error is not None
        assert "Kafka" in stats.last_error or "onnect" in stats.last_error
        assert stats.last_error_at is not None and abs(stats.last_error_at - time.time()) < 30
    finally:
        await publisher.stop(flush_timeout=0)
