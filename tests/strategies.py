"""Hypothesis strategies for hostile input: arbitrary JSON and mutations of valid events.

Why it exists: every edge (decode of each topic's schema, the seed adapters) must turn any bytes
into either a valid model or `InvalidEvent`, never another exception. The unit fuzz tests
(tests/unit/schemas/test_fuzz.py) and the end-to-end fuzz draw from the same generators:

- `hostile_json()`: bytes that are arbitrary JSON (nested objects/lists, huge and edge integers,
  strings with control characters, NUL and escapes), plus not-JSON, deep nesting, bad UTF-8;
- `valid_event_json(schema)` / `valid_event(schema)`: a valid body of one schema;
- `mutated_event_json(schema)`: a valid body with one value replaced by a hostile one, a key
  removed or a hostile key added, anywhere in the tree.

Schemas: `SCHEMAS` (wire events: node, vm, backup, heartbeat, alert) and `SEED_BODIES` (seed
000 API, seed 000/001 WebSocket, seed 003, seed 004 heartbeat bodies). Times lie in 2020..2030
so that a `latest` of now + skew in tests decides for itself.
"""

from __future__ import annotations

import json
import string
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from hypothesis import strategies as st

SCHEMAS = ("node", "vm", "backup", "heartbeat", "alert")
SEED_BODIES = ("seed_api", "seed_ws", "seed003", "heartbeat_body")

JsonValue = Any

# Values that sit on or just past a bound somewhere: int4, int8, uint64, the disk and
# per-disk-bytes bounds, durations, percents.
EDGE_INTS = (0, -1, 1, 99, 100, 101, 1023, 1024, 2**31 - 1, 2**31, 2**53 + 1, 2**63 - 1, 2**63,
             2**64, 2**64 + 1, -(2**63) - 1, 6 * 10**18, 10**19, 10**30, 2**1000)
EDGE_FLOATS = (-0.0, 0.5, 100.0001, 1e19, 1e300, -1e300, 5e-324, 7258118400.5, 8796093022208.0)
EDGE_TIMES = (
    "9999-12-31T23:00:00-05:00", "0001-01-01T00:00:00+05:00", "2200-01-01T00:00:00Z",
    "2199-12-31T23:30:00-01:00", "1970-01-01T00:00:00+01:00", "1969-12-31T23:59:59Z",
    "2025-01-01T00:00:00", "2025-13-01T00:00:00Z", "yesterday", "", "2025-01-01T00:00:00+25:00",
)
CONTROL_CHARS = "".join(map(chr, [*range(0x20), 0x7F, *range(0x80, 0xA0)]))

_identifier_chars = st.characters(codec="utf-8", exclude_characters=CONTROL_CHARS)
identifiers = st.text(_identifier_chars, min_size=1, max_size=24)
"""Ids without control characters (what `schemas.event.Identifier` accepts)."""
hostile_text = st.one_of(
    st.text(st.characters(codec="utf-8"), max_size=40),
    st.text(st.sampled_from(CONTROL_CHARS + "\\\",= \u2028#"), min_size=1, max_size=8),
    st.builds(lambda a, c, b: a + c + b, identifiers, st.sampled_from(CONTROL_CHARS), identifiers),
    st.sampled_from(["", "x" * 257, "x" * 5000, "\\", "a\\", "\\u0000"]),
)
"""Strings a hostile client sends: control characters, NUL, separators, over-long, empty."""

_json_leaves = st.one_of(
    st.none(), st.booleans(), st.integers(), st.sampled_from(EDGE_INTS),
    st.floats(allow_nan=False, allow_infinity=False), st.sampled_from(EDGE_FLOATS),
    hostile_text, st.sampled_from(EDGE_TIMES),
)
json_values = st.recursive(
    _json_leaves,
    lambda inner: st.one_of(st.lists(inner, max_size=4),
                            st.dictionaries(hostile_text, inner, max_size=4)),
    max_leaves=12,
)
"""Arbitrary JSON-compatible Python values (orjson can encode them all)."""


def _dumps(value: JsonValue) -> bytes:
    # orjson refuses ints beyond 64 bits; the wire can carry them, so the stdlib writes those.
    try:
        return orjson.dumps(value)
    except TypeError:
        return json.dumps(value).encode()


def _nested(depth: int) -> JsonValue:
    value: JsonValue = []
    for _ in range(depth):
        value = [value]
    return value


def _deep(depth: int, opener: bytes, closer: bytes) -> bytes:
    return opener * depth + closer * depth


_raw_hostile = st.one_of(
    st.binary(max_size=64),
    st.sampled_from([b"", b"null", b"[]", b"1", b'"text"', b"{", b'{"a":1e400}', b'{"a":NaN}',
                     b'{"a":"\\ud800"}', b'{"a":"\\u0000"}', b"\xff\xfe{}", b'{"a":1}{"b":2}',
                     b'{"a":18446744073709551616000}', b'{"a":-0}', b'{"a":1,"a":2}']),
    st.integers(min_value=30, max_value=3000).map(lambda n: _deep(n, b"[", b"]")),
    st.integers(min_value=30, max_value=3000).map(
        lambda n: b'{"a":' * n + b"1" + b"}" * n),
)


def hostile_json() -> st.SearchStrategy[bytes]:
    """Arbitrary JSON documents (any nesting of anything) and bytes that are not JSON at all."""
    return st.one_of(json_values.map(_dumps),
                     st.dictionaries(hostile_text, json_values, max_size=6).map(_dumps),
                     _raw_hostile)


# --- valid bodies -------------------------------------------------------------------------

_T0 = datetime(2020, 1, 1, tzinfo=UTC)
_times = st.integers(min_value=0, max_value=10 * 365 * 86_400 * 1_000_000).map(
    lambda us: _T0 + timedelta(microseconds=us))
_offsets = st.sampled_from(["Z", "+00:00", "+05:30", "-08:00"])


def _rfc3339(at: datetime, offset: str) -> str:
    if offset == "Z":
        return at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    sign = 1 if offset[0] == "+" else -1
    hours, minutes = int(offset[1:3]), int(offset[4:6])
    local = at + sign * timedelta(hours=hours, minutes=minutes)
    return local.strftime("%Y-%m-%dT%H:%M:%S.%f") + offset


times = st.builds(_rfc3339, _times, _offsets)
"""RFC 3339 event times in 2020..2030 with assorted offsets."""
uuids = st.uuids().map(str)
percent = st.floats(min_value=0, max_value=100)
small_float = st.floats(min_value=0, max_value=1e6)
int8 = st.integers(min_value=0, max_value=2**63 - 1)
int4 = st.integers(min_value=0, max_value=2**31 - 1)


def _optional(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(st.none(), strategy)


def _envelope(schema: str) -> dict[str, st.SearchStrategy[Any]]:
    return {"event_id": uuids, "schema": st.just(schema), "source": identifiers, "ts": times}


_node_disk = st.fixed_dictionaries({"mount": identifiers, "used_bytes": int8,
                                    "total_bytes": int8, "percent": percent})
_node = st.fixed_dictionaries({
    **_envelope("node.snapshot/1"), "node_id": identifiers, "cpu_percent": percent,
    "memory_percent": percent,
}, optional={
    "memory_used_bytes": int8, "memory_total_bytes": int8,
    "disks": st.lists(_node_disk, max_size=3), "network_rx_bytes": int8,
    "network_tx_bytes": int8, "uptime_seconds": st.floats(min_value=0, max_value=7e9),
    "boot_time": times, "process_count": int4, "active_connections": int4,
    "load_avg_1m": small_float, "load_avg_5m": small_float, "load_avg_15m": small_float,
    "outbox_dropped_total": int8,
})

_nic_counters = ("rx_bytes", "rx_packets", "rx_errs", "rx_drop", "tx_bytes", "tx_packets",
                 "tx_errs", "tx_drop")


def _named(items: st.SearchStrategy[dict[str, Any]]) -> st.SearchStrategy[list[dict[str, Any]]]:
    return st.lists(items, max_size=3, unique_by=lambda item: item["name"])


_vm = st.fixed_dictionaries({
    **_envelope("vm.sample/1"), "host": identifiers, "vm_uuid": uuids, "vm_name": identifiers,
    "state": st.sampled_from(["running", "paused", "shutoff", "crashed"]),
}, optional={
    "cpu_time_ns": int8, "vcpus": st.integers(min_value=0, max_value=4096),
    "memory_actual_bytes": int8, "memory_rss_bytes": int8, "memory_major_faults": int8,
    "nics": _named(st.fixed_dictionaries({"name": identifiers,
                                          **{c: int8 for c in _nic_counters}})),
    "disks": _named(st.fixed_dictionaries(
        {"name": identifiers, "rd_reqs": int8, "rd_bytes": int8, "wr_reqs": int8,
         "wr_bytes": int8}, optional={"errs": int8})),
})

_disk_bytes = st.integers(min_value=0, max_value=(2**63 - 1) // 1024)
_backup_disk = st.fixed_dictionaries(
    {"disk_index": st.integers(min_value=0, max_value=1023), "bytes_transferred": _disk_bytes},
    optional={"total_bytes": _disk_bytes, "progress_percent": percent,
              "status": identifiers})
_backup_body: dict[str, st.SearchStrategy[Any]] = {
    "job_type": st.sampled_from(["backup", "replication", "restore"]),
    "status": st.sampled_from(["pending", "running", "completed", "failed", "cancelled"]),
    "current_phase": st.text(max_size=20).filter(lambda t: "\x00" not in t),
}
_backup_optional: dict[str, st.SearchStrategy[Any]] = {
    "bytes_transferred": int8, "total_bytes": int8, "transfer_speed_bps": small_float,
    "eta_seconds": small_float, "progress_percent": percent,
    "error": _optional(st.text(max_size=40).filter(lambda t: "\x00" not in t)),
    "disks": st.lists(_backup_disk, max_size=4, unique_by=lambda d: d["disk_index"]),
}
_backup = st.fixed_dictionaries({
    **_envelope("backup.progress/1"), "job_id": identifiers, "seq": int8, **_backup_body,
}, optional=_backup_optional)

_task = st.fixed_dictionaries({"task_id": identifiers}, optional={
    "name": _optional(st.text(max_size=20).filter(lambda t: "\x00" not in t)),
    "task_type": _optional(identifiers), "started_at": _optional(times),
    "progress_percent": _optional(percent)})
_heartbeat_body: dict[str, st.SearchStrategy[Any]] = {
    "worker_id": identifiers, "cpu_usage": percent, "memory_usage": percent,
}
_heartbeat_optional: dict[str, st.SearchStrategy[Any]] = {
    "gpu_usage": _optional(percent), "running_tasks": st.lists(_task, max_size=3),
    "interval_seconds": st.floats(min_value=0.001, max_value=86_400),
}
_heartbeat = st.fixed_dictionaries({**_envelope("worker.heartbeat/1"), **_heartbeat_body},
                                   optional=_heartbeat_optional)

_alert = st.fixed_dictionaries({
    "alert_id": uuids, "kind": st.sampled_from(["backup.stale", "worker.inactive"]),
    "subject": identifiers, "state": st.sampled_from(["raised", "cleared"]), "at": times,
}, optional={"detail": st.dictionaries(st.text(string.ascii_letters, max_size=8),
                                       st.one_of(st.none(), int4, small_float, identifiers,
                                                 times), max_size=4)})

_seed_api = st.fixed_dictionaries({
    "node_id": identifiers, "cpu_percent": percent, "memory_percent": percent,
}, optional={
    "timestamp": times, "memory_used_mb": small_float, "memory_total_mb": small_float,
    "network_rx_bytes": int8, "network_tx_bytes": int8, "uptime_seconds": small_float,
    "process_count": int4, "active_connections": int4, "load_avg_1m": small_float,
    "load_avg_5m": small_float, "load_avg_15m": small_float,
    "network_rx_rate_mbps": small_float,
}).flatmap(lambda body: st.one_of(
    st.just(body),
    st.fixed_dictionaries({"disk_percent": percent, "disk_used_gb": small_float,
                           "disk_total_gb": small_float}).map(lambda disk: {**body, **disk})))

_seed_ws = st.fixed_dictionaries({
    "timestamp": times, "node_id": identifiers,
    "metrics": st.fixed_dictionaries({
        "cpu": st.fixed_dictionaries({"cpu_usage_percent": percent},
                                     optional={"load_avg_1min": small_float}),
        "memory": st.fixed_dictionaries({"memory_usage_percent": percent},
                                        optional={"memory_used_gb": small_float,
                                                  "memory_total_gb": small_float}),
    }, optional={
        "disk": st.fixed_dictionaries({"disk_usage": st.dictionaries(
            identifiers, st.fixed_dictionaries({"usage_percent": percent,
                                                "used_gb": small_float,
                                                "total_gb": small_float}), max_size=3)}),
        "network": st.fixed_dictionaries({}, optional={"bytes_recv": int8, "bytes_sent": int8,
                                                       "active_connections": int4}),
        "processes": st.fixed_dictionaries({"process_count": int4}),
        "system": st.fixed_dictionaries({}, optional={"uptime_seconds": small_float,
                                                      "boot_time": times}),
    }),
})

_seed003 = st.fixed_dictionaries({**_backup_body, "timestamp": times},
                                 optional=_backup_optional)
_heartbeat_http = st.fixed_dictionaries(
    _heartbeat_body, optional={**_heartbeat_optional, "ts": times, "source": identifiers,
                               "event_id": uuids})

_VALID: dict[str, st.SearchStrategy[dict[str, Any]]] = {
    "node": _node, "vm": _vm, "backup": _backup, "heartbeat": _heartbeat, "alert": _alert,
    "seed_api": _seed_api, "seed_ws": _seed_ws, "seed003": _seed003,
    "heartbeat_body": _heartbeat_http,
}


def valid_event(schema: str) -> st.SearchStrategy[dict[str, Any]]:
    """A valid body of `schema` (one of SCHEMAS or SEED_BODIES), as a JSON-compatible dict."""
    return _VALID[schema]


def valid_event_json(schema: str) -> st.SearchStrategy[bytes]:
    """`valid_event(schema)` encoded as the JSON bytes a producer sends."""
    return _VALID[schema].map(orjson.dumps)


# --- mutations ----------------------------------------------------------------------------

Path = tuple[str | int, ...]

hostile_values = st.one_of(
    st.sampled_from(EDGE_INTS), st.sampled_from(EDGE_FLOATS), st.sampled_from(EDGE_TIMES),
    hostile_text, json_values, st.integers(min_value=30, max_value=300).map(_nested),
    st.just([{}] * 1025),
)
"""A value to put anywhere in a valid body."""


def _paths(value: JsonValue, prefix: Path = ()) -> list[Path]:
    found: list[Path] = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, inner in value.items():
            found.extend(_paths(inner, (*prefix, key)))
    elif isinstance(value, list):
        for index, inner in enumerate(value):
            found.extend(_paths(inner, (*prefix, index)))
    return found


def _apply(body: JsonValue, path: Path, action: str, value: JsonValue, key: str) -> JsonValue:
    if not path:
        return body
    head, rest = path[0], path[1:]
    if isinstance(body, dict):
        copy: dict[Any, Any] | list[Any] = dict(body)
    else:
        copy = list(body)
    if rest:
        copy[head] = _apply(copy[head], rest, action, value, key)  # type: ignore[index]
    elif action == "replace":
        copy[head] = value  # type: ignore[index]
    elif action == "delete":
        del copy[head]  # type: ignore[arg-type]
    elif isinstance(copy, dict):
        copy[key] = value
    else:
        copy.append(value)
    return copy


def _get(body: JsonValue, path: Path) -> JsonValue:
    for part in path:
        body = body[part]
    return body


def _looks_like_time(value: str) -> bool:
    return len(value) >= 19 and value[4] == "-" and value[10] == "T"


def _hostile_like(original: JsonValue) -> st.SearchStrategy[JsonValue]:
    """Mostly a hostile value of the original's kind (edge ints for ints, edge times for times),
    so the fuzz probes each field's own bounds rather than only its type."""
    if isinstance(original, bool):
        typed: st.SearchStrategy[JsonValue] = st.sampled_from([None, 0, 1, "true", "yes"])
    elif isinstance(original, int):
        typed = st.sampled_from(EDGE_INTS)
    elif isinstance(original, float):
        typed = st.sampled_from(EDGE_FLOATS + EDGE_INTS)
    elif isinstance(original, str) and _looks_like_time(original):
        typed = st.sampled_from(EDGE_TIMES)
    elif isinstance(original, str):
        typed = hostile_text
    else:
        return hostile_values
    return st.one_of(typed, typed, hostile_values)


@st.composite
def _mutation(draw: st.DrawFn, body: dict[str, Any]) -> dict[str, Any]:
    paths = _paths(body)
    result: JsonValue = body
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        action = draw(st.sampled_from(["replace", "replace", "delete", "add"]))
        value = None if action == "delete" else draw(_hostile_like(_get(result, path)))
        key = draw(hostile_text) if action == "add" else ""
        result = _apply(result, path, action, value, key)
        paths = _paths(result)
    assert isinstance(result, dict)
    return result


def mutated_event(schema: str) -> st.SearchStrategy[dict[str, Any]]:
    """A valid body of `schema` with 1..3 hostile edits (replace, delete, add) anywhere."""
    return _VALID[schema].flatmap(_mutation)


def mutated_event_json(schema: str) -> st.SearchStrategy[bytes]:
    """`mutated_event(schema)` as bytes (ints beyond 64 bits written out by hand)."""
    return mutated_event(schema).map(_dumps)
