"""Seed 001 queue rows -> node snapshot events (producers.node.legacy_queue.convert_row)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from producers.node.legacy_queue import convert_row
from schemas.errors import InvalidEvent

BODY = {"node_id": "192.168.100.27", "cpu_percent": 45.2, "memory_percent": 67.8}


def test_body_without_timestamp_takes_the_rows_naive_utc_stamp_every_time() -> None:
    # The seed's enqueue: timestamp = payload.get('timestamp', datetime.utcnow().isoformat()).
    first = convert_row("2025-12-17T10:00:00.250000", json.dumps(BODY), "2025-12-17T10:00:01",
                        "legacy-queue@h")
    again = convert_row("2025-12-17T10:00:00.250000", json.dumps(BODY), "2025-12-17T10:00:01",
                        "legacy-queue@h")
    assert first.ts == datetime(2025, 12, 17, 10, 0, 0, 250000, tzinfo=UTC)
    assert first.event_id == again.event_id  # a re-import is a duplicate the workers drop


def test_body_timestamp_wins_over_the_row() -> None:
    body = {**BODY, "timestamp": "2025-12-17T09:59:00Z"}
    snapshot = convert_row("2025-12-17T10:00:00", json.dumps(body), "x", "s")
    assert snapshot.ts == datetime(2025, 12, 17, 9, 59, tzinfo=UTC)


@pytest.mark.parametrize(("timestamp", "payload", "field"), [
    ("2025-12-17T10:00:00", "{not json", "(body)"),
    ("2025-12-17T10:00:00", json.dumps({**BODY, "memory_percent": -1}), "memory_percent"),
    ("garbage", json.dumps(BODY), "timestamp"),
])
def test_invalid_rows_name_the_problem(timestamp: str, payload: str, field: str) -> None:
    with pytest.raises(InvalidEvent) as raised:
        convert_row(timestamp, payload, None, "s")
    assert raised.value.errors[0].field == field
