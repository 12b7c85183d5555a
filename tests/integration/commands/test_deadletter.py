"""`fleetstream deadletter` and `deadletter redrive` against the real broker.

The dead letters are produced as the stream workers and ingest endpoints write them
(`DeadLetter.of`, keyed by the original key or the endpoint path, with the record's time), to a
test prefix of their own.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
from aiokafka import AIOKafkaProducer

from schemas.deadletter import DeadLetter
from schemas.errors import FieldError
from tests.integration.commands.conftest import CreateTopics
from tests.integration.helpers import AppEnv

HOUR_MS = 3_600_000
BACKUP_RAW = b'{"job_id": "j-1", "bytes_transferred": -5}'
HEARTBEAT_RAW = b"\xff\xfe\x1b[31mboom\x00"
HTTP_RAW = b'{"worker_id": "w\x1b]0;pwned\x07", "cpu_usage": "lots"}'


@dataclass
class Letters:
    """Where each produced dead letter landed: PARTITION:OFFSET in the dead-letter topic."""

    backup: str
    heartbeat: str
    http: str
    garbage: str


async def _produce_letters(env: AppEnv) -> Letters:
    now_ms = int(time.time() * 1000)
    two_hours_ago = now_ms - 2 * HOUR_MS
    backup = DeadLetter.of(
        BACKUP_RAW, "bytes_transferred: must be >= 0",
        [FieldError("bytes_transferred", "must be >= 0")], topic=env.topic("backup"),
        partition=1, offset=41, at=datetime.fromtimestamp(two_hours_ago / 1000, UTC))
    heartbeat = DeadLetter.of(HEARTBEAT_RAW, "not JSON", topic=env.topic("heartbeat"),
                              partition=0, offset=7)
    http = DeadLetter.of(HTTP_RAW, "cpu_usage: not a number", endpoint="/api/heartbeat")
    producer = AIOKafkaProducer(bootstrap_servers=env.bootstrap, acks="all")
    await producer.start()
    try:
        sent = [
            await producer.send(env.topic("deadletter"), key=b"j-1", value=backup.encode(),
                                partition=1, timestamp_ms=two_hours_ago),
            await producer.send(env.topic("deadletter"), key=b"w-9", value=heartbeat.encode(),
                                partition=0),
            await producer.send(env.topic("deadletter"), key=b"/api/heartbeat",
                                value=http.encode(), partition=1),
            await producer.send(env.topic("deadletter"), key=None, value=b"\x1b[2Jnot json",
                                partition=0),
        ]
        metadata = [await future for future in sent]
    finally:
        await producer.stop()
    return Letters(*(f"{m.partition}:{m.offset}" for m in metadata))


@pytest.fixture
async def letters(kafka_env: AppEnv, create_topics: CreateTopics) -> Letters:
    await create_topics("deadletter", "backup", "heartbeat")
    return await _produce_letters(kafka_env)


async def _cli(env: AppEnv, *args: str) -> tuple[int, str, str]:
    result = await asyncio.to_thread(env.run_cli, "deadletter", *args)
    return result.returncode, result.stdout, result.stderr


async def test_the_listing_shows_every_dead_letter_escaped(kafka_env: AppEnv,
                                                          letters: Letters) -> None:
    code, out, err = await _cli(kafka_env, "--json")
    assert code == 0, err
    entries = {entry["id"]: entry for entry in json.loads(out)}
    assert set(entries) == {letters.backup, letters.heartbeat, letters.http, letters.garbage}
    backup = entries[letters.backup]["dead_letter"]
    assert (backup["origin_topic"], backup["origin_partition"], backup["origin_offset"]) == (
        kafka_env.topic("backup"), 1, 41)
    assert backup["raw"] == BACKUP_RAW.decode() and entries[letters.backup]["key"] == "j-1"
    assert entries[letters.heartbeat]["dead_letter"]["raw_encoding"] == "base64"
    assert entries[letters.http]["dead_letter"]["origin_endpoint"] == "/api/heartbeat"
    assert entries[letters.garbage]["dead_letter"] is None
    assert out.isascii()

    code, out, err = await _cli(kafka_env)
    assert code == 0, err
    assert not any(char in out for char in "\x1b\x07\x00"), "raw control characters printed"
    header, *rows = out.splitlines()
    assert header.split() == ["ID", "TIME", "ORIGIN", "REASON", "PAYLOAD"]
    # Oldest first: the backup letter was rejected two hours ago.
    assert rows[0].startswith(letters.backup)
    assert f"{kafka_env.topic('backup')}:1:41" in rows[0] and "must be >= 0" in rows[0]
    by_id = {row.split()[0]: row for row in rows}
    assert "\\xff\\xfe\\x1b[31mboom\\x00" in by_id[letters.heartbeat]
    assert "/api/heartbeat" in by_id[letters.http] and "\\x1b]0;pwned\\x07" in by_id[letters.http]
    assert "not a dead-letter record" in by_id[letters.garbage]


async def test_since_topic_and_limit_select(kafka_env: AppEnv, letters: Letters) -> None:
    code, out, err = await _cli(kafka_env, "--json", "--since", "1h")
    assert code == 0, err
    assert letters.backup not in {entry["id"] for entry in json.loads(out)}
    assert len(json.loads(out)) == 3

    code, out, err = await _cli(kafka_env, "--json", "--topic", "heartbeat")
    assert code == 0, err
    assert [entry["id"] for entry in json.loads(out)] == [letters.heartbeat]

    code, out, _ = await _cli(kafka_env, "--json", "--limit", "2")
    assert code == 0
    assert letters.backup not in {entry["id"] for entry in json.loads(out)}
    assert len(json.loads(out)) == 2


async def test_redrive_resubmits_the_original_bytes_under_the_original_key(
        kafka_env: AppEnv, letters: Letters) -> None:
    code, out, err = await _cli(kafka_env, "redrive", "--offset", letters.backup)
    assert code == 0, err
    assert out.splitlines()[-1] == "re-submitted 1 dead letters to their origin topics"
    [record] = await kafka_env.consume_records(kafka_env.topic("backup"), expect=1)
    assert (record.key, record.value) == (b"j-1", BACKUP_RAW)
    assert dict(record.headers)["fleetstream-redriven-from"] == (
        f"{kafka_env.topic('deadletter')}:{letters.backup}".encode())


async def test_redrive_all_matching_decodes_base64_and_dry_run_sends_nothing(
        kafka_env: AppEnv, letters: Letters) -> None:
    code, out, err = await _cli(kafka_env, "redrive", "--all-matching", "--topic", "heartbeat",
                                "--dry-run")
    assert code == 0, err
    assert out.splitlines()[-1] == "would re-submit 1 dead letters (dry run: nothing sent)"
    code, out, err = await _cli(kafka_env, "redrive", "--all-matching", "--since", "1h")
    assert code == 0, err
    # The HTTP and the garbage records are skipped with a reason, the backup one is too old.
    assert f"skipped {letters.http}: rejected by the HTTP endpoint /api/heartbeat" in out
    assert f"skipped {letters.garbage}: not a dead-letter record" in out
    assert out.splitlines()[-1] == "re-submitted 1 dead letters to their origin topics"
    records = await kafka_env.consume_records(kafka_env.topic("heartbeat"), expect=2, timeout=5)
    assert [(r.key, r.value) for r in records] == [(b"w-9", HEARTBEAT_RAW)]
    assert await kafka_env.consume_records(kafka_env.topic("backup"), expect=1, timeout=2) == []


async def test_redrive_of_what_cannot_go_back_says_why_and_fails(kafka_env: AppEnv,
                                                                 letters: Letters) -> None:
    code, out, err = await _cli(kafka_env, "redrive", "--offset", letters.http, "0:999999")
    assert code == 1
    assert f"skipped {letters.http}: rejected by the HTTP endpoint" in out
    assert "no dead letter at 0:999999" in err
    assert out.splitlines()[-1] == "re-submitted 0 dead letters to their origin topics"


async def test_usage_errors_exit_2(kafka_env: AppEnv) -> None:
    for args in (["--since", "yesterday"], ["redrive", "--offset", "one"],
                 ["redrive", "--offset", "0:1", "--topic", "backup"], ["redrive"]):
        code, _, err = await _cli(kafka_env, *args)
        assert code == 2, (args, err)
        assert "Traceback" not in err
