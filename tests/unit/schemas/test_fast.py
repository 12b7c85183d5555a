"""The msgspec fast path decodes exactly as `schemas.event.decode` does, hostile inputs included.

Each input goes through both `decode_progress` and pydantic's `decode(BackupProgress, ...)`: the
same event (the model's fields and the struct's compared by repr, so an int where pydantic makes
a float, or another time zone, shows) or the same field errors. Inputs: valid reports, mutations
of them (tests/strategies.py: control characters, NUL, lone surrogates, bounds, far-off and
future times, wrong types), arbitrary JSON, and the forms the fast path leaves to pydantic on
purpose.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import msgspec
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from schemas.backup import BackupProgress, DiskReport, ProgressReport, decode_progress
from schemas.errors import InvalidEvent
from schemas.event import decode
from streams.domain import backup
from tests.strategies import hostile_json, mutated_event_json, valid_event, valid_event_json

LATEST = datetime(2031, 1, 1, tzinfo=UTC)
"""Later than every valid time the strategies draw (2020..2030), earlier than far-future ones."""


def _fields(event: BaseModel | msgspec.Struct) -> list[tuple[str, Any]]:
    """Every field's name and repr (disks field by field), whichever type holds them; a UUID
    as its canonical text, which is how the struct holds it."""
    items = (iter(event) if isinstance(event, BaseModel) else
             ((name, getattr(event, name)) for name in event.__struct_fields__))
    return sorted((name, [_fields(disk) for disk in value] if name == "disks" else
                   repr(str(value) if isinstance(value, uuid.UUID) else value))
                  for name, value in items)


def _outcome(call: Any, raw: bytes, latest: datetime | None) -> tuple[str, Any]:
    try:
        event = call(raw, latest=latest)
    except InvalidEvent as exc:
        return "invalid", exc.errors
    return "event", _fields(event)


def assert_same(raw: bytes, latest: datetime | None = LATEST) -> None:
    pydantic = _outcome(lambda raw, latest: decode(BackupProgress, raw, latest=latest), raw,
                        latest)
    decoded = _outcome(decode_progress, raw, latest)
    assert decoded == pydantic
    if decoded[0] == "event":
        event = decode_progress(raw, latest=latest)
        assert type(event) is ProgressReport
        assert all(type(disk) is DiskReport for disk in event.disks)


def _fast_path_takes(raw: bytes) -> bool:
    return decode_progress.fast(raw, LATEST) is not None


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(valid_event_json("backup"))
def test_valid_reports_decode_to_the_same_event(raw: bytes) -> None:
    assert_same(raw)


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_event_json("backup"))
def test_hostile_mutations_decode_or_fail_the_same(raw: bytes) -> None:
    assert_same(raw)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(hostile_json())
def test_arbitrary_json_fails_the_same(raw: bytes) -> None:
    assert_same(raw)


@settings(max_examples=100, deadline=None)
@given(valid_event("backup"))
def test_reports_as_producers_encode_them_take_the_fast_path(body: dict[str, Any]) -> None:
    """The point of the module: what our own producers send reaches pydantic only when it holds
    a JSON escape (a control character or a quote in free text)."""
    raw = decode(BackupProgress, orjson.dumps(body)).encode()
    assert _fast_path_takes(raw) or b"\\" in raw
    assert_same(raw)


REPORT = {"event_id": "6f1c7f34-0a51-4d8e-9c53-2f0e1f7a9b10", "schema": "backup.progress/1",
          "source": "test", "ts": "2025-10-10T14:35:42.123456Z", "job_id": "job-1",
          "job_type": "backup", "status": "running", "current_phase": "copy", "seq": 7,
          "disks": [{"disk_index": 0, "bytes_transferred": 5, "total_bytes": 10}]}


def _with(**changes: Any) -> bytes:
    return orjson.dumps({**REPORT, **changes})


TAKEN_ALIKE = {
    "integer speed": _with(transfer_speed_bps=5),
    "duplicate key": orjson.dumps(REPORT)[:-1] + b',"seq":8}',
    "every optional field": _with(bytes_transferred=5, total_bytes=10, transfer_speed_bps=1.5,
                                  eta_seconds=3.25, progress_percent=50, error="late",
                                  disks=[{"disk_index": 3, "bytes_transferred": 5,
                                          "total_bytes": 10, "progress_percent": 50.0,
                                          "status": "copying"}]),
    "minus zero offset": _with(ts="2025-10-10T14:35:42-00:00"),
    "first microsecond": _with(ts="1970-01-01T00:00:00Z"),
    "exactly latest": _with(ts="2031-01-01T00:00:00Z"),
    "space separator": _with(ts="2025-10-10 14:35:42Z"),
    "lowercase z": _with(ts="2025-10-10T14:35:42z"),
    "plus zero offset": _with(ts="2025-10-10T14:35:42+00:00"),
    "seven digits in another field": _with(current_phase="12:34.1234567"),
    "non-ASCII text (not plain: its fields are searched)": _with(current_phase="Sicherung läuft",
                                                                  job_id="jöb-1"),
}
"""Forms the fast path takes, as pydantic reads them."""

LEFT_TO_PYDANTIC = {
    # msgspec would round the seventh digit up; pydantic truncates.
    "seven fraction digits": _with(ts="2025-10-10T14:35:42.1234567Z"),
    "no seconds": _with(ts="2025-10-10T14:35Z"),
    "offset without colon": _with(ts="2025-10-10T14:35:42+0100"),
    "no offset": _with(ts="2025-10-10T14:35:42"),
    "epoch seconds": _with(ts=1760106942),
    "year 1 with an offset": _with(ts="0001-01-01T00:00:00+05:00"),
    "year 9999": _with(ts="9999-12-31T23:00:00-05:00"),
    "end of time": _with(ts="2200-01-01T00:00:00Z"),
    "leap second": _with(ts="2025-12-31T23:59:60Z"),
    "hour 24": _with(ts="2025-10-10T24:00:00Z"),
    "30 February": _with(ts="2025-02-30T00:00:00Z"),
    "after latest": _with(ts="2031-01-01T00:00:00.000001Z"),
    "braced uuid": _with(event_id="{6f1c7f34-0a51-4d8e-9c53-2f0e1f7a9b10}"),
    # The struct holds a UUID's canonical text: other spellings are converted by the model.
    "unhyphenated uuid": _with(event_id="6f1c7f340a514d8e9c532f0e1f7a9b10"),
    "uppercase uuid": _with(event_id="6F1C7F34-0A51-4D8E-9C53-2F0E1F7A9B10"),
    "urn uuid": _with(event_id="urn:uuid:6f1c7f34-0a51-4d8e-9c53-2f0e1f7a9b10"),
    "36 characters, not a uuid": _with(event_id="6f1c7f34-0a51-4d8e-9c53-2f0e1f7a9b1g"),
    "populated by field name": {**REPORT, "schema_name": "backup.progress/2"},
    "unknown field nested deep": orjson.dumps(REPORT)[:-1] + b',"x":' + b"[" * 300 + b"]" * 300
    + b"}",
    "unknown disk field": _with(disks=[{"disk_index": 0, "bytes_transferred": 5, "x": 1}]),
    "integral float disk index": _with(disks=[{"disk_index": 1.0, "bytes_transferred": 5}]),
    "float seq": _with(seq=7.0),
    "numeric string seq": _with(seq="7"),
    "bool seq": _with(seq=True),
    "seq beyond int8": _with(seq=2**63),
    "speed beyond a double": orjson.dumps(REPORT)[:-1] + b',"transfer_speed_bps":1e400}',
    "duplicate disk index": _with(disks=[{"disk_index": 0, "bytes_transferred": 5},
                                         {"disk_index": 0, "bytes_transferred": 6}]),
    "newline ending an id": _with(job_id="job-1\n"),
    "DEL in an id, unescaped": _with(job_id="job\x7f1"),
    "C1 control in an id, unescaped": _with(source="bench\x9b"),
    "C1 control in a disk status": _with(disks=[{"disk_index": 0, "bytes_transferred": 5,
                                                 "status": "ok\x85"}]),
    "NUL in the phase": _with(current_phase="co\x00py"),
    "NUL in the error": _with(error="disk\x00full"),
    "lone surrogate": orjson.dumps(REPORT)[:-1] + b',"error":"\\ud800"}',
    "empty job id": _with(job_id=""),
    "257-character source": _with(source="s" * 257),
    "wrong schema": _with(schema="backup.progress/2"),
    "not an object": b"[1]",
    "an offset": _with(ts="2025-10-10T16:35:42.5+02:00"),
    "an escape in the time": orjson.dumps(REPORT).replace(b"42.123456Z", b"42.12345\\u0036Z"),
    "seven digits after spaces": _with(ts="2025-10-10T14:35:42.1234567Z").replace(
        b'"ts":', b'"ts" :  '),
    "newline in the error": _with(error="disk\nfull"),
    "an escaped quote in the phase": _with(current_phase='say "copy"'),
}
"""Forms the fast path leaves to pydantic: refused by it, or read differently by msgspec."""


@pytest.mark.parametrize("raw", [pytest.param(raw if isinstance(raw, bytes) else
                                              orjson.dumps(raw), id=name)
                                 for name, raw in LEFT_TO_PYDANTIC.items()])
def test_forms_left_to_pydantic_decode_as_pydantic_decodes_them(raw: bytes) -> None:
    assert_same(raw)
    assert_same(raw, latest=None)


@pytest.mark.parametrize("name", sorted(TAKEN_ALIKE))
def test_forms_the_fast_path_takes_decode_as_pydantic_decodes_them(name: str) -> None:
    assert _fast_path_takes(TAKEN_ALIKE[name])
    assert_same(TAKEN_ALIKE[name])


def test_plain_inputs_are_ascii_without_del() -> None:
    from schemas.fast import plain

    assert plain(_with())
    assert b"\x7f" in _with(job_id="job\x7f1") and not plain(_with(job_id="job\x7f1"))
    assert not plain(_with(source="bench\x9b")) and not plain(_with(current_phase="läuft"))


def test_a_naive_latest_is_the_callers_error_as_with_pydantic() -> None:
    with pytest.raises(ValueError, match="UTC offset"):
        decode_progress(_with(), latest=datetime(2031, 1, 1))


@pytest.mark.parametrize("name", sorted(LEFT_TO_PYDANTIC))
def test_the_forms_left_to_pydantic_do_not_take_the_fast_path(name: str) -> None:
    raw = LEFT_TO_PYDANTIC[name]
    assert not _fast_path_takes(raw if isinstance(raw, bytes) else orjson.dumps(raw))


@settings(max_examples=100, deadline=None)
@given(st.lists(valid_event_json("backup"), min_size=1, max_size=4))
def test_the_fold_gives_the_same_job_from_structs_as_from_models(raws: list[bytes]) -> None:
    """What a user sees (rows, points, alerts come from this state) does not change."""
    models = [decode(BackupProgress, raw) for raw in raws]
    structs = [decode_progress(raw) for raw in raws]
    assert backup.apply_events(None, structs) == backup.apply_events(None, models)
