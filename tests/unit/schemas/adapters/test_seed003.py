"""Seed 003 bodies: seq from the timestamp, re-POSTs are duplicates, every bad field reported."""

from __future__ import annotations

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
