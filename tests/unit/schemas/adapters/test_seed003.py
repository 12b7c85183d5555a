"""Seed 003 bodies: seq from the timestamp, re-POSTs are duplicates, every bad field reported."""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime, timedelta

import orjson
import pytest

from schemas.adapters.seed003 import from_seed_body
from schemas.errors import InvalidEvent

BODY = {"job_type": "backup", "status": "running", "current_phase": "transferring",
        "bytes_transferred": 0, "total_bytes": 100,
        "disks": [{"disk_index": 0, "bytes_transferred": 30, "status": "transferring"}],
        "timestamp": "2025-10-10T14:35:42Z"}


def test_seq_is_the_timestamp_in_microseconds_and_the_path_names_the_job() -> None:
    event = from_seed_body("backup", "job-1", orjson.dumps(BODY), "http:test")
    assert event.seq == 1_760_106_942_000_000
    assert (event.job_id, event.job_type) == ("job-1", "backup")


def test_the_same_body_posted_twice_is_the_same_event() -> None:
    reordered = orjson.dumps(dict(reversed(BODY.items())))
    first = from_seed_body("backup", "job-1", orjson.dumps(BODY), "http:a")
    again = from_seed_body("backup", "job-1", reordered, "http:b")
    other_job = from_seed_body("backup", "job-2", orjson.dumps(BODY), "http:a")
    assert first.event_id == again.event_id != other_job.event_id


def test_every_bad_field_is_reported_at_once() -> None:
    body = {**BODY, "timestamp": "yesterday", "status": "exploded",
            "disks": [{"disk_index": 0, "bytes_transferred": -1}]}
    with pytest.raises(InvalidEvent) as caught:
        from_seed_body("backup", "job-1", orjson.dumps(body), "http:test")
    fields = {error.field for error in caught.value.errors}
    assert {"timestamp", "status", "disks.0.bytes_transferred"} <= fields


def test_job_type_in_the_body_must_match_the_path() -> None:
    with pytest.raises(InvalidEvent, match="job_type"):
        from_seed_body("restore", "job-1", orjson.dumps(BODY), "http:test")


# --- pinned by `make mutation` (docs/testing.md): each a contract the seed client relies on -----

AT_MICROS = 1_760_106_942_000_000  # 2025-10-10T14:35:42Z, worked out by hand


def _errors(body: dict[str, object], job_id: str = "job-1",
            **kwargs: datetime) -> list[tuple[str, str]]:
    with pytest.raises(InvalidEvent) as caught:
        from_seed_body("backup", job_id, orjson.dumps(body), "http:test", **kwargs)
    return [(error.field, error.message) for error in caught.value.errors]


def test_a_missing_timestamp_is_named_with_what_it_must_be() -> None:
    body = {key: value for key, value in BODY.items() if key != "timestamp"}
    assert _errors(body) == [("timestamp", "Field required (RFC 3339 UTC event time)")]
    # ... and reported together with the other bad fields.
    assert _errors({**body, "status": "exploded"})[0] == (
        "timestamp", "Field required (RFC 3339 UTC event time)")


def test_an_unreadable_timestamp_says_why() -> None:
    [(field, message)] = _errors({**BODY, "timestamp": "yesterday"})
    assert field == "timestamp" and "datetime" in message


def test_a_timestamp_after_latest_is_rejected_and_one_at_latest_accepted() -> None:
    at = datetime(2025, 10, 10, 14, 35, 42, tzinfo=UTC)
    [(field, message)] = _errors(BODY, latest=at - timedelta(seconds=1))
    assert field == "timestamp" and "future" in message
    assert from_seed_body("backup", "job-1", orjson.dumps(BODY), "http:test", latest=at).ts == at
    assert from_seed_body("backup", "job-1", orjson.dumps(BODY), "http:test").ts == at


def test_job_id_in_the_body_must_match_the_path() -> None:
    assert _errors({**BODY, "job_id": "job-9"}) == [
        ("job_id", "body says 'job-9' but the URL path says 'job-1'")]
    event = from_seed_body("backup", "job-1", orjson.dumps({**BODY, "job_id": "job-1"}), "h")
    assert event.job_id == "job-1"


def test_a_disagreeing_job_type_says_both_values() -> None:
    with pytest.raises(InvalidEvent) as caught:
        from_seed_body("restore", "job-1", orjson.dumps(BODY), "http:test")
    assert [(e.field, e.message) for e in caught.value.errors] == [
        ("job_type", "body says 'backup' but the URL path says 'restore'")]


def test_event_id_is_uuid5_of_job_seq_and_the_sorted_body_hash() -> None:
    # The documented recipe (module docstring), computed here without the adapter: ids must stay
    # the same across releases, or a re-POST after an upgrade is counted twice.
    digest = hashlib.sha256(orjson.dumps(BODY, option=orjson.OPT_SORT_KEYS)).hexdigest()
    namespace = uuid.UUID("3b0d2c9e-7f43-4d6a-9a55-b1f3c0e8d217")
    expected = uuid.uuid5(namespace, f"job-1|{AT_MICROS}|{digest}")
    assert from_seed_body("backup", "job-1", orjson.dumps(BODY), "http:test").event_id == expected


def test_two_different_bodies_of_one_second_are_two_events() -> None:
    first = from_seed_body("backup", "job-1", orjson.dumps(BODY), "http:test")
    later = from_seed_body("backup", "job-1", orjson.dumps({**BODY, "bytes_transferred": 10}),
                           "http:test")
    assert first.seq == later.seq == AT_MICROS
    assert first.event_id != later.event_id
