"""`worker.heartbeat/1` validation and the HTTP body's optional envelope."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
import pytest

from schemas.errors import InvalidEvent
from schemas.event import decode
from schemas.worker import WorkerHeartbeat, from_body

NOW = datetime(2025, 10, 10, 14, 35, 42, tzinfo=UTC)
BODY = {"worker_id": "gpu-1", "cpu_usage": 55.5, "memory_usage": 20, "gpu_usage": 90,
        "running_tasks": [{"task_id": "t1", "name": "train", "task_type": "training",
                           "started_at": "2025-10-10T14:00:00Z", "progress_percent": 40}],
        "interval_seconds": 5}


def test_a_bare_body_gets_an_envelope_and_round_trips() -> None:
    event = from_body(orjson.dumps(BODY), source="http:1.2.3.4", received_at=NOW)
    assert event.ts == NOW and event.source == "http:1.2.3.4"
    assert event.running_tasks[0].task_type == "training"
    assert decode(WorkerHeartbeat, event.encode()) == event


def test_the_same_body_posted_twice_is_the_same_event() -> None:
    body = orjson.dumps({**BODY, "ts": "2025-10-10T14:35:42Z"})
    first = from_body(body, source="a", received_at=NOW)
    again = from_body(body, source="a", received_at=datetime(2030, 1, 1, tzinfo=UTC))
    assert first.event_id == again.event_id


def test_every_bad_field_is_reported() -> None:
    bad = {**BODY, "cpu_usage": 120, "gpu_usage": -1, "interval_seconds": 0,
           "running_tasks": [{"name": "no id"}]}
    with pytest.raises(InvalidEvent) as caught:
        from_body(orjson.dumps(bad), source="a", received_at=NOW)
    fields = {error.field for error in caught.value.errors}
    assert {"cpu_usage", "gpu_usage", "interval_seconds", "running_tasks.0.task_id"} <= fields


@pytest.mark.parametrize("raw", [b"not json", b"[1, 2]", b'{"worker_id": ""}'])
def test_malformed_bodies_are_invalid_events(raw: bytes) -> None:
    with pytest.raises(InvalidEvent):
        from_body(raw, source="a", received_at=NOW)
