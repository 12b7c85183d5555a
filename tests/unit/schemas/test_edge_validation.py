"""Values that passed validation but not the database are rejected at the edge, with a reason.

Regressions (issue 8 item 4, issue 13): each input below used to be accepted and then stall its
partition for good (PostgreSQL refused the batch on every retry) or crash the agent with an
exception that was not a validation error.
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from pydantic import BaseModel

from schemas.adapters.node import from_seed_api, from_seed_ws
from schemas.adapters.seed003 import from_seed_body
from schemas.alert import Alert
from schemas.backup import MAX_DISK_BYTES, MAX_DISKS, BackupProgress
from schemas.errors import InvalidEvent
from schemas.event import INT8_MAX, MAX_NESTING, decode, parse_json_object, validate
from schemas.node import NodeSnapshot
from schemas.vm import VmSample
from schemas.worker import WorkerHeartbeat, from_body

NOW = datetime(2025, 10, 10, 14, 35, 42, tzinfo=UTC)
LATEST = NOW + timedelta(seconds=300)

ENVELOPE = {"event_id": "6f1c7f34-0a51-4d8e-9c53-2f0e1f7a9b10", "source": "test",
            "ts": "2025-10-10T14:35:00Z"}
BACKUP: dict[str, Any] = {
    **ENVELOPE, "schema": "backup.progress/1", "job_id": "job-1", "job_type": "backup",
    "status": "running", "current_phase": "transferring", "seq": 1, "total_bytes": 100,
    "error": None, "disks": [{"disk_index": 0, "bytes_transferred": 30}],
}
NODE: dict[str, Any] = {
    **ENVELOPE, "schema": "node.snapshot/1", "node_id": "n1", "cpu_percent": 5.0,
    "memory_percent": 50.0, "process_count": 234, "active_connections": 45,
    "uptime_seconds": 3600.0, "boot_time": "2025-10-10T13:35:00Z",
    "disks": [{"mount": "/", "used_bytes": 1, "total_bytes": 2, "percent": 50.0}],
}
VM: dict[str, Any] = {
    **ENVELOPE, "schema": "vm.sample/1", "host": "h1", "vm_uuid": ENVELOPE["event_id"],
    "vm_name": "web", "state": "running", "vcpus": 2, "cpu_time_ns": 10,
    "nics": [{"name": "vnet0", "rx_bytes": 1, "rx_packets": 1, "rx_errs": 0, "rx_drop": 0,
              "tx_bytes": 1, "tx_packets": 1, "tx_errs": 0, "tx_drop": 0}],
}
HEARTBEAT: dict[str, Any] = {
    **ENVELOPE, "schema": "worker.heartbeat/1", "worker_id": "gpu-1", "cpu_usage": 1.0,
    "memory_usage": 2.0, "running_tasks": [{"task_id": "t1", "name": "train",
                                            "started_at": "2025-10-10T14:00:00Z"}],
}
ALERT: dict[str, Any] = {"alert_id": "a1", "kind": "backup.stale", "subject": "job-1",
                         "state": "raised", "at": "2025-10-10T14:35:00Z",
                         "detail": {"job_type": "backup", "n": 1}}
SEED_API: dict[str, Any] = {"node_id": "n1", "timestamp": "2025-10-10T14:35:00Z",
                            "cpu_percent": 45.2, "memory_percent": 67.8,
                            "memory_used_mb": 8704, "process_count": 234}
SEED_WS: dict[str, Any] = {
    "timestamp": "2025-10-10T14:35:00Z", "node_id": "n1",
    "metrics": {"cpu": {"cpu_usage_percent": 1.0}, "memory": {"memory_usage_percent": 2.0},
                "processes": {"process_count": 3}, "system": {"uptime_seconds": 10.0}},
}
SEED003: dict[str, Any] = {"job_type": "backup", "status": "running",
                           "current_phase": "transferring", "total_bytes": 100,
                           "disks": [{"disk_index": 0, "bytes_transferred": 30}],
                           "timestamp": "2025-10-10T14:35:00Z"}

MODELS: dict[str, tuple[type[BaseModel], dict[str, Any]]] = {
    "backup": (BackupProgress, BACKUP), "node": (NodeSnapshot, NODE), "vm": (VmSample, VM),
    "heartbeat": (WorkerHeartbeat, HEARTBEAT), "alert": (Alert, ALERT),
}


def changed(body: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """`body` with the value at dotted `path` (list indexes as numbers) replaced."""
    result = copy.deepcopy(body)
    *parents, last = path.split(".")
    target: Any = result
    for part in parents:
        target = target[int(part)] if isinstance(target, list) else target[part]
    if isinstance(target, list):
        target[int(last)] = value
    else:
        target[last] = value
    return result


def dumps(body: Any) -> bytes:
    try:
        return orjson.dumps(body)
    except TypeError:  # ints beyond 64 bits: the wire can carry them, orjson cannot write them
        import json
        return json.dumps(body).encode()


def rejected(call: Any, *args: Any, **kwargs: Any) -> dict[str, str]:
    """The field errors `call` raises as `InvalidEvent` (any other exception fails the test)."""
    with pytest.raises(InvalidEvent) as caught:
        call(*args, **kwargs)
    return {error.field: error.message for error in caught.value.errors}


def api(body: dict[str, Any], **kwargs: Any) -> NodeSnapshot:
    return from_seed_api(dumps(body), received_at=NOW, source="test", **kwargs)


def ws(body: dict[str, Any], **kwargs: Any) -> NodeSnapshot:
    return from_seed_ws(dumps(body), source="test", **kwargs)


def seed003(body: dict[str, Any], job_id: str = "job-1", **kwargs: Any) -> BackupProgress:
    return from_seed_body("backup", job_id, dumps(body), "http:test", **kwargs)


def heartbeat(body: dict[str, Any], **kwargs: Any) -> WorkerHeartbeat:
    return from_body(dumps(body), "http:test", NOW, **kwargs)


# --- the valid bodies pass --------------------------------------------------------------------

@pytest.mark.parametrize("name", MODELS)
def test_a_valid_event_of_every_schema_still_passes(name: str) -> None:
    model, body = MODELS[name]
    event = decode(model, dumps(body), latest=LATEST)
    assert isinstance(event, model)


def test_valid_seed_bodies_still_pass() -> None:
    assert api(SEED_API, latest=LATEST).process_count == 234
    assert ws(SEED_WS, latest=LATEST).process_count == 3
    assert seed003(SEED003, latest=LATEST).disks[0].bytes_transferred == 30
    assert heartbeat(HEARTBEAT, latest=LATEST).worker_id == "gpu-1"


# --- integer columns --------------------------------------------------------------------------

@pytest.mark.parametrize(("name", "path"), [
    ("backup", "disks.0.disk_index"),           # backup_disks.disk_index integer
    ("node", "process_count"),                  # telemetry_history integer columns
    ("node", "active_connections"),
    ("vm", "vcpus"),
])
def test_values_beyond_int4_are_rejected(name: str, path: str) -> None:
    model, body = MODELS[name]
    assert path in rejected(decode, model, dumps(changed(body, path, 2**31)))


@pytest.mark.parametrize(("name", "path"), [
    ("backup", "seq"), ("backup", "total_bytes"), ("node", "network_rx_bytes"),
    ("node", "disks.0.used_bytes"), ("vm", "cpu_time_ns"), ("vm", "nics.0.rx_bytes"),
])
@pytest.mark.parametrize("value", [2**63, 2**64, 10**30])
def test_values_beyond_int8_are_rejected(name: str, path: str, value: int) -> None:
    model, body = MODELS[name]
    assert path in rejected(decode, model, dumps(changed(body, path, value)))


def test_the_int4_and_int8_maxima_themselves_pass() -> None:
    node = decode(NodeSnapshot, dumps({**NODE, "process_count": 2**31 - 1,
                                       "network_rx_bytes": INT8_MAX}))
    assert (node.process_count, node.network_rx_bytes) == (2**31 - 1, INT8_MAX)


def test_two_disks_whose_sum_overflows_int8_are_rejected() -> None:
    # Each 6e18 fits int8, their sum (the job's bytes_transferred) does not.
    disks = [{"disk_index": 0, "bytes_transferred": 6 * 10**18},
             {"disk_index": 1, "bytes_transferred": 6 * 10**18}]
    errors = rejected(decode, BackupProgress, dumps({**BACKUP, "disks": disks}))
    assert {"disks.0.bytes_transferred", "disks.1.bytes_transferred"} <= errors.keys()


def test_every_job_sum_fits_int8_whichever_reports_its_disks_came_from() -> None:
    # The workers sum every disk a job ever reported, across reports: the bound must hold for
    # the most disks a job can have at the largest per-disk figure.
    assert MAX_DISKS * MAX_DISK_BYTES <= INT8_MAX
    at_bounds = [{"disk_index": i, "bytes_transferred": MAX_DISK_BYTES,
                  "total_bytes": MAX_DISK_BYTES} for i in range(MAX_DISKS)]
    event = decode(BackupProgress, dumps({**BACKUP, "disks": at_bounds}))
    assert sum(d.bytes_transferred for d in event.disks) <= INT8_MAX
    assert "disks.0.disk_index" in rejected(
        decode, BackupProgress, dumps(changed(BACKUP, "disks.0.disk_index", MAX_DISKS)))
    assert "disks" in rejected(decode, BackupProgress, dumps(
        {**BACKUP, "disks": [*at_bounds, {"disk_index": 0, "bytes_transferred": 0}]}))


def test_uptime_that_overflows_the_bigint_column_is_rejected() -> None:
    assert "uptime_seconds" in rejected(decode, NodeSnapshot,
                                        dumps({**NODE, "uptime_seconds": 1e19}))
    assert "uptime_seconds" in rejected(api, {**SEED_API, "uptime_seconds": 1e19})
    assert "metrics.system.uptime_seconds" in rejected(
        ws, changed(SEED_WS, "metrics.system.uptime_seconds", 1e19))


@pytest.mark.parametrize(("field", "value"), [
    ("process_count", 2**31), ("active_connections", 2**31),
    ("memory_used_mb", 1e303),   # round(1e303 * MiB) was round(inf): OverflowError
    ("disk_used_gb", 1e300),
])
def test_seed_api_figures_that_cannot_be_stored_name_the_seed_field(
        field: str, value: float) -> None:
    body = {**SEED_API, "disk_percent": 1.0, "disk_used_gb": 1.0, "disk_total_gb": 2.0,
            field: value}
    assert field in rejected(api, body)


def test_seed_ws_counts_are_bounded_like_the_columns() -> None:
    assert "metrics.processes.process_count" in rejected(
        ws, changed(SEED_WS, "metrics.processes.process_count", 2**31))


@pytest.mark.parametrize("value", [1e400, "NaN", "Infinity"])
def test_floats_must_be_finite(value: Any) -> None:
    raw = dumps(BACKUP).replace(b'"total_bytes":100', b'"transfer_speed_bps":'
                                + (str(value).encode() if isinstance(value, float)
                                   else dumps(value)) + b',"total_bytes":100')
    assert rejected(decode, BackupProgress, raw)


# --- timestamps -------------------------------------------------------------------------------

FAR_OFF = ["9999-12-31T23:00:00-05:00", "0001-01-01T00:00:00+05:00", "2200-01-01T00:00:00Z",
           "1969-12-31T23:59:59Z", "2199-12-31T23:30:00-01:00"]


@pytest.mark.parametrize("value", FAR_OFF)
@pytest.mark.parametrize(("name", "path"), [
    ("backup", "ts"), ("node", "boot_time"), ("heartbeat", "running_tasks.0.started_at"),
    ("alert", "at"),
])
def test_timestamps_outside_1970_to_2200_are_invalid_not_an_overflow(
        name: str, path: str, value: str) -> None:
    model, body = MODELS[name]
    errors = rejected(decode, model, dumps(changed(body, path, value)))
    assert "between 1970-01-01 and 2200-01-01" in errors[path]


@pytest.mark.parametrize("value", FAR_OFF[:2])
def test_seed_timestamps_outside_the_range_are_invalid(value: str) -> None:
    assert "timestamp" in rejected(api, {**SEED_API, "timestamp": value})
    assert "timestamp" in rejected(ws, {**SEED_WS, "timestamp": value})
    assert "timestamp" in rejected(seed003, {**SEED003, "timestamp": value})
    assert "ts" in rejected(heartbeat, {**HEARTBEAT, "ts": value})


def test_the_ends_of_the_range_convert_and_pass() -> None:
    first = decode(BackupProgress, dumps({**BACKUP, "ts": "1970-01-01T01:00:00+01:00"}))
    last = decode(BackupProgress, dumps({**BACKUP, "ts": "2199-12-31T18:59:59-05:00"}))
    assert first.ts == datetime(1970, 1, 1, tzinfo=UTC)
    assert last.ts == datetime(2199, 12, 31, 23, 59, 59, tzinfo=UTC)


def test_a_timestamp_without_offset_is_rejected() -> None:
    assert "ts" in rejected(decode, BackupProgress, dumps({**BACKUP, "ts": "2025-10-10T14:35"}))


@pytest.mark.parametrize(("name", "path"), [
    ("backup", "ts"), ("node", "boot_time"), ("heartbeat", "running_tasks.0.started_at"),
    ("alert", "at"),
])
def test_an_event_time_past_latest_is_rejected_saying_how_far(name: str, path: str) -> None:
    model, body = MODELS[name]
    ahead = (LATEST + timedelta(seconds=123)).isoformat()
    errors = rejected(decode, model, dumps(changed(body, path, ahead)), latest=LATEST)
    assert errors[path].startswith("lies 123 s in the future")
    assert "FLEETSTREAM_MAX_CLOCK_SKEW_SECONDS" in errors[path]
    # Without `latest` (e.g. a replay of old topics), the time is not judged against a clock.
    assert isinstance(decode(model, dumps(changed(body, path, ahead))), model)


def test_an_event_time_exactly_at_latest_passes() -> None:
    event = decode(BackupProgress, dumps({**BACKUP, "ts": LATEST.isoformat()}), latest=LATEST)
    assert event.ts == LATEST


def test_seed_adapters_reject_future_times_naming_the_seed_field() -> None:
    ahead = (LATEST + timedelta(hours=1)).isoformat()
    assert "timestamp" in rejected(api, {**SEED_API, "timestamp": ahead}, latest=LATEST)
    assert "timestamp" in rejected(ws, {**SEED_WS, "timestamp": ahead}, latest=LATEST)
    assert "timestamp" in rejected(seed003, {**SEED003, "timestamp": ahead}, latest=LATEST)
    assert "ts" in rejected(heartbeat, {**HEARTBEAT, "ts": ahead}, latest=LATEST)
    assert "metrics.system.boot_time" in rejected(
        ws, changed(SEED_WS, "metrics.system", {"boot_time": ahead}), latest=LATEST)


# --- text -------------------------------------------------------------------------------------

@pytest.mark.parametrize("char", ["\x00", "\n", "\r", "\t", "\x1b", "\x7f", "\x85", "\x9f"])
@pytest.mark.parametrize(("name", "path"), [
    ("backup", "job_id"), ("backup", "source"), ("node", "node_id"), ("node", "disks.0.mount"),
    ("vm", "vm_name"), ("vm", "nics.0.name"), ("heartbeat", "worker_id"),
    ("heartbeat", "running_tasks.0.task_id"), ("alert", "subject"),
])
def test_identifiers_with_control_characters_are_rejected(
        name: str, path: str, char: str) -> None:
    model, body = MODELS[name]
    errors = rejected(decode, model, dumps(changed(body, path, f"a{char}b")))
    assert errors[path] == ("must not contain control characters "
                            f"(found U+{ord(char):04X} at position 1)")


def test_a_newline_in_a_path_job_id_is_rejected() -> None:
    # It would split the line-protocol point and forge a second one.
    assert "job_id" in rejected(seed003, SEED003, job_id="job\nbackup_job,job_id=x bytes=1i")


@pytest.mark.parametrize(("name", "path"), [
    ("backup", "error"), ("backup", "current_phase"), ("heartbeat", "running_tasks.0.name"),
    ("alert", "detail.job_type"),
])
def test_nul_in_free_text_is_rejected(name: str, path: str) -> None:
    # PostgreSQL text refuses NUL (22021), jsonb refuses \u0000 (22P05).
    model, body = MODELS[name]
    errors = rejected(decode, model, dumps(changed(body, path, "disk\x00full")))
    field = "detail" if path.startswith("detail.") else path  # detail is judged as a whole
    assert "NUL" in errors[field]


def test_free_text_keeps_newlines_and_other_harmless_characters() -> None:
    event = decode(BackupProgress, dumps({**BACKUP, "error": "copy failed:\n\tdisk full"}))
    assert event.error == "copy failed:\n\tdisk full"


def test_lone_surrogates_cannot_reach_a_sink() -> None:
    # orjson and asyncpg cannot encode them; only Python-side callers can produce one.
    assert "job_id" in rejected(validate, BackupProgress, {**BACKUP, "job_id": "a\ud800"})
    assert "error" in rejected(validate, BackupProgress, {**BACKUP, "error": "a\udfff"})


@pytest.mark.parametrize(("name", "path", "limit"), [
    ("backup", "job_id", 256), ("backup", "error", 4096),
    ("heartbeat", "running_tasks.0.name", 256),
])
def test_text_is_length_bounded(name: str, path: str, limit: int) -> None:
    model, body = MODELS[name]
    assert isinstance(decode(model, dumps(changed(body, path, "x" * limit))), model)
    assert path in rejected(decode, model, dumps(changed(body, path, "x" * (limit + 1))))


# --- alert detail (jsonb) ---------------------------------------------------------------------

@pytest.mark.parametrize("detail", [
    {"n": 2**64}, {"deep": [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]},
    {"k\x00": 1}, {"list": ["ok", "\x00"]},
])
def test_alert_detail_that_jsonb_or_orjson_cannot_take_is_rejected(detail: Any) -> None:
    assert "detail" in rejected(decode, Alert, dumps({**ALERT, "detail": detail}))


def test_alert_transition_details_with_datetimes_still_pass() -> None:
    alert = Alert.transition("backup.stale", "job-1", "raised", NOW, last_telemetry_at=NOW)
    assert decode(Alert, alert.encode()).detail == {"last_telemetry_at": "2025-10-10T14:35:42Z"}


# --- not JSON, deep nesting, wrong types ------------------------------------------------------

@pytest.mark.parametrize("raw", [b"", b"not json", b"\xff\xfe\x00", b"[1, 2]", b"null",
                                 b'{"a": 1} trailing', b'{"job_id": "\\ud800"}'])
@pytest.mark.parametrize("name", MODELS)
def test_bytes_that_are_not_a_json_object_are_rejected(name: str, raw: bytes) -> None:
    assert rejected(decode, MODELS[name][0], raw)


@pytest.mark.parametrize("raw", [b"[" * 100_000 + b"]" * 100_000,
                                 b'{"a":' * 5000 + b"1" + b"}" * 5000])
def test_deep_nesting_is_rejected_at_every_edge(raw: bytes) -> None:
    assert rejected(decode, BackupProgress, raw)
    assert rejected(api, {}) and rejected(from_seed_api, raw, received_at=NOW, source="t")
    assert rejected(from_seed_ws, raw, source="t")
    assert rejected(from_seed_body, "backup", "job-1", raw, "t")
    assert rejected(from_body, raw, "t", NOW)


def test_a_body_nested_too_deep_to_hash_is_rejected_not_a_type_error() -> None:
    # orjson.dumps (the content event id) stops at 255 levels with TypeError.
    body = {**HEARTBEAT, "extra": [[[[]]]]}
    nested: Any = []
    for _ in range(300):
        nested = [nested]
    body["extra"] = nested
    errors = rejected(heartbeat, body)
    assert errors == {"(body)": f"nests deeper than {MAX_NESTING} levels"}
    assert rejected(parse_json_object, dumps({"a": nested}))


def test_deeply_nested_python_data_is_rejected_not_a_recursion_error() -> None:
    nested: Any = {}
    for _ in range(50_000):
        nested = {"a": nested}
    assert "detail" in rejected(validate, Alert, {**ALERT, "detail": nested})


@pytest.mark.parametrize("raw", [None, 42, object()])
def test_input_of_the_wrong_python_type_is_rejected(raw: Any) -> None:
    assert rejected(decode, BackupProgress, raw)


@pytest.mark.parametrize(("path", "value"), [
    ("seq", "1.5"), ("seq", [1]), ("disks", {}), ("disks.0", "disk"), ("status", 3),
    ("job_type", None), ("ts", 12.5e20), ("event_id", "not-a-uuid"),
])
def test_wrong_types_name_the_field(path: str, value: Any) -> None:
    assert path in rejected(decode, BackupProgress, dumps(changed(BACKUP, path, value)))


def test_validation_messages_read_as_sentences() -> None:
    errors = rejected(decode, BackupProgress, dumps({**BACKUP, "job_id": "a\nb"}))
    assert not errors["job_id"].startswith("Value error")


# --- seed 003: the path names the job, the adapter sets the envelope --------------------------

def test_seed003_body_cannot_override_the_paths_job_or_the_envelope() -> None:
    forged = {**SEED003, "seq": 2**62, "source": "forged", "ts": "2030-01-01T00:00:00Z",
              "event_id": "00000000-0000-0000-0000-000000000000", "schema": "node.snapshot/1"}
    event = seed003(forged)
    honest = seed003(SEED003)
    assert event.job_id == "job-1" and event.source == "http:test"
    assert event.seq == honest.seq == 1_760_106_900_000_000   # the body's timestamp, in µs
    assert event.ts == honest.ts == datetime(2025, 10, 10, 14, 35, tzinfo=UTC)
    assert str(event.event_id) != forged["event_id"]


def test_seed003_body_job_id_that_disagrees_with_the_path_is_an_error() -> None:
    assert "job_id" in rejected(seed003, {**SEED003, "job_id": "job-2"})
    assert seed003({**SEED003, "job_id": "job-1"}).job_id == "job-1"
