"""Hostile records on every raw topic: each is a dead letter with a reason, the worker stays up,
and the valid events after them, for the same keys and so the same partitions, reach PostgreSQL
and the TSDB.

Regression: a value that passed validation but not the database (an int4 overflow, a sum past
int8, NUL in text, a timestamp `astimezone` cannot convert) stalled its partition for good or
crashed the agent, whose batch Faust then acknowledged.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from tests.integration.helpers import AppEnv, http, tsdb_export, unique, wait_for


def _now() -> str:
    # At call time, not import time: the suite imports this module long before it runs.
    return _iso(datetime.now(UTC).replace(microsecond=0))


def _iso(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


def backup(key: str, /, **changes: Any) -> dict[str, Any]:
    body = {"event_id": str(uuid.uuid4()), "schema": "backup.progress/1", "source": "poison",
            "ts": _now(), "job_id": key, "job_type": "backup", "status": "running",
            "current_phase": "transferring", "seq": 1, "total_bytes": 1000,
            "disks": [{"disk_index": 0, "bytes_transferred": 100, "total_bytes": 1000}]}
    return {**body, **changes}


def snapshot(key: str, /, **changes: Any) -> dict[str, Any]:
    body = {"event_id": str(uuid.uuid4()), "schema": "node.snapshot/1", "source": "poison",
            "ts": _now(), "node_id": key, "cpu_percent": 12.5, "memory_percent": 40.0,
            "process_count": 200}
    return {**body, **changes}


def heartbeat(key: str, /, **changes: Any) -> dict[str, Any]:
    body = {"event_id": str(uuid.uuid4()), "schema": "worker.heartbeat/1", "source": "poison",
            "ts": _now(), "worker_id": key, "cpu_usage": 10.0, "memory_usage": 20.0,
            "running_tasks": []}
    return {**body, **changes}


def vm_sample(key: str, /, **changes: Any) -> dict[str, Any]:
    body = {"event_id": str(uuid.uuid4()), "schema": "vm.sample/1", "source": "poison",
            "ts": _now(), "host": "h1", "vm_uuid": key, "vm_name": "vm-poison",
            "state": "running", "cpu_time_ns": 10**9, "vcpus": 2}
    return {**body, **changes}


def encoded(body: Any) -> bytes:
    return json.dumps(body).encode()


NOT_JSON = [b"not json", b"\xff\xfe\x00garbage", b"[" * 5000 + b"]" * 5000, b"", b"null"]


async def test_poison_on_every_raw_topic_is_dead_lettered_and_the_valid_events_land(
    app_env: AppEnv,
) -> None:
    worker = await app_env.start_worker()
    job, node, beat, vm = unique("job-"), unique("node-"), unique("w-"), str(uuid.uuid4())
    future = _iso(datetime.now(UTC) + timedelta(minutes=10))  # beyond the 300 s allowed skew
    poison: dict[str, list[tuple[bytes, bytes]]] = {
        "backup": [(job.encode(), raw) for raw in NOT_JSON] + [(job.encode(), encoded(b)) for b in (
            backup(job, disks=[{"disk_index": 2**31, "bytes_transferred": 1}]),
            backup(job, disks=[{"disk_index": 0, "bytes_transferred": 6 * 10**18},
                               {"disk_index": 1, "bytes_transferred": 6 * 10**18}]),
            backup(job, ts="9999-12-31T23:00:00-05:00"),
            backup(job, ts="3000-01-01T00:00:00Z"),
            backup(job, ts=future),
            backup(job, error="disk\x00failed"),
            backup(job, job_id=f"{job}\nnode_cpu_percent value=1"),
            backup(job, seq="one"),
            backup(job, eta_seconds=1e19),
        )],
        "node": [(node.encode(), encoded(b)) for b in (
            snapshot(node, process_count=2**31),
            snapshot(node, uptime_seconds=1e19),
            snapshot(node, node_id="a\x00b"),
            snapshot(node, ts=future),
            snapshot(node, cpu_percent="NaN"),
        )] + [(node.encode(), NOT_JSON[0])],
        "heartbeat": [(beat.encode(), encoded(b)) for b in (
            heartbeat(beat, running_tasks=[{"task_id": "t1", "name": "a\x00b"}]),
            heartbeat(beat, ts="3000-01-01T00:00:00Z"),
            heartbeat(beat, worker_id="w\x1b[2J"),
            heartbeat(beat, cpu_usage=1e400),
        )] + [(beat.encode(), NOT_JSON[1])],
        "vm": [(vm.encode(), encoded(b)) for b in (
            vm_sample(vm, vcpus=2**31), vm_sample(vm, ts=future), vm_sample(vm, vm_uuid="nope"),
        )] + [(vm.encode(), NOT_JSON[2])],
        "alerts": [(beat.encode(), b'{"kind": "worker.inactive"}'),
                   (beat.encode(), encoded({"alert_id": "x", "kind": "k", "subject": "s\x00",
                                            "state": "raised", "at": _now()}))],
    }
    valid = {
        "backup": [(job.encode(), encoded(backup(job, seq=2)))],
        "node": [(node.encode(), encoded(snapshot(node)))],
        "heartbeat": [(beat.encode(), encoded(heartbeat(beat)))],
        "vm": [(vm.encode(), encoded(vm_sample(vm)))],
    }
    for name, records in poison.items():
        await app_env.produce(app_env.topic(name), records + valid.get(name, []))
    expected = sum(len(records) for records in poison.values())

    letters = await app_env.consume_json("deadletter", expect=expected, timeout=120)
    refused = {json.loads(letter["raw"]).get("event_id") if letter["raw"].startswith("{") else
               letter["raw"][:20] for letter in letters}
    accepted = [value[:300] for records in poison.values() for _, value in records
                if (value.startswith(b"{") and json.loads(value).get("event_id") not in refused)]
    assert len(letters) == expected, accepted
    for letter in letters:
        assert letter["error"], letter
        assert letter["origin_topic"] in {app_env.topic(name) for name in poison}
    by_topic = {name: sum(1 for letter in letters if letter["origin_topic"] == app_env.topic(name))
                for name in poison}
    assert by_topic == {name: len(records) for name, records in poison.items()}

    async def landed() -> bool:
        jobs = await app_env.rows("SELECT bytes_transferred FROM backup_jobs WHERE job_id = $1",
                                  job)
        history = await app_env.rows("SELECT process_count FROM telemetry_history "
                                     "WHERE node_id = $1", node)
        workers = await app_env.rows("SELECT is_active FROM workers WHERE worker_id = $1", beat)
        return ([tuple(r) for r in jobs] == [(100,)] and [tuple(r) for r in history] == [(200,)]
                and [tuple(r) for r in workers] == [(True,)])

    await wait_for(landed, timeout=120, what="the valid events' rows in PostgreSQL")

    async def in_tsdb() -> bool:
        series = tsdb_export(app_env.env["INFLUX_URL"],
                             f'{{__name__="node_cpu_percent",node_id="{node}"}}')
        vms = tsdb_export(app_env.env["INFLUX_URL"], f'{{__name__="vm_vcpus",vm_uuid="{vm}"}}')
        jobs = tsdb_export(app_env.env["INFLUX_URL"],
                           f'{{__name__="backup_job_bytes",job_id="{job}"}}')
        return bool(series and vms and jobs)

    await wait_for(in_tsdb, timeout=120, what="the valid events' points in the TSDB")
    # No forged point: the job id with a newline was refused, not split into another measurement.
    assert not tsdb_export(app_env.env["INFLUX_URL"], '{__name__="node_cpu_percent_value"}')
    assert worker.proc is not None and worker.proc.poll() is None, "the worker stayed up"
    status, health = http("GET", f"{worker.url}/health")
    assert status == 200 and health["status"] == "healthy"


async def test_a_row_postgres_refuses_is_found_dead_lettered_and_the_rest_written(
    app_env: AppEnv,
) -> None:
    """A value validation lets through but the database refuses (a CHECK it cannot know of)
    is found by bisection: only its job's events are dead-lettered, the others are written."""
    worker = await app_env.start_worker()
    jobs = [unique("job-") for _ in range(6)]
    await app_env.produce(app_env.topic("backup"),
                          [(j.encode(), encoded(backup(j, seq=1))) for j in jobs[:1]])

    async def migrated() -> list[asyncpg.Record]:
        return await app_env.rows("SELECT job_id FROM backup_jobs")

    await wait_for(migrated, timeout=60, what="the schema and a first row")
    # An operator's constraint the stream cannot know of: the event passes validation, the
    # database refuses it (SQLSTATE 23514, a permanent rejection).
    await app_env.pg("ALTER TABLE backup_jobs ADD CONSTRAINT no_restore_phase "
                     "CHECK (current_phase <> 'forbidden')")
    bad = jobs[3]
    await app_env.produce(app_env.topic("backup"), [
        (j.encode(), encoded(backup(j, seq=2, current_phase="forbidden" if j == bad
                                    else "verifying"))) for j in jobs])

    async def written() -> bool:
        rows = await app_env.rows("SELECT job_id, current_phase FROM backup_jobs")
        phases = {r["job_id"]: r["current_phase"] for r in rows}
        return all(phases.get(j) == "verifying" for j in jobs if j != bad)

    await wait_for(written, timeout=60, what="every other job's row")
    [letter] = await app_env.consume_json("deadletter", expect=1, timeout=30)
    assert json.loads(letter["raw"])["job_id"] == bad
    assert "postgres rejected: PostgreSQL 23514" in letter["error"]
    assert not await app_env.rows("SELECT 1 FROM backup_jobs WHERE job_id = $1", bad)
    assert worker.proc is not None and worker.proc.poll() is None


async def test_a_record_as_large_as_the_broker_takes_is_dead_lettered_and_its_partition_goes_on(
    app_env: AppEnv,
) -> None:
    """Regression: a record of control characters near the broker's 1 MiB limit made a dead
    letter six times its size (JSON escapes each in six bytes), which no producer batch holds:
    its batch was retried for ever, no dead letter came, and nothing later on the partition was
    processed. The letter keeps the first `MAX_RAW_BYTES` of it now."""
    from schemas.deadletter import MAX_RAW_BYTES

    worker = await app_env.start_worker()
    job = unique("job-")
    hostile = b'{"job_id": "' + b"\x01" * 999_000 + b'"}'
    await app_env.produce(app_env.topic("backup"), [
        (job.encode(), hostile), (job.encode(), encoded(backup(job, seq=2)))])

    async def landed() -> list[asyncpg.Record]:
        return await app_env.rows("SELECT last_seq FROM backup_jobs WHERE job_id = $1", job)

    await wait_for(landed, timeout=60, what="the valid report after the large one")
    [letter] = await app_env.consume_json("deadletter", expect=1, timeout=30)
    assert letter["raw_truncated"] is True and letter["raw_bytes"] == len(hostile)
    assert letter["raw"].encode() == hostile[:MAX_RAW_BYTES]
    assert letter["origin_topic"] == app_env.topic("backup")
    await app_env.produce(app_env.topic("backup"), [(job.encode(), encoded(backup(job, seq=3)))])

    async def went_on() -> bool:
        rows = await landed()
        return bool(rows) and rows[0]["last_seq"] == 3

    await wait_for(went_on, timeout=60, what="a later report on the same partition")
    assert worker.proc is not None and worker.proc.poll() is None
