"""`worker.heartbeat/1` validation and the HTTP body's optional envelope."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
import pytest

from schemas.errors import InvalidEvent
from schemas.event import decode, validate
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
           "running_tasks": [{"name": "no id", "progress_percent": 101}]}
    with pytest.raises(InvalidEvent) as caught:
        from_body(orjson.dumps(bad), source="a", received_at=NOW)
    fields = {error.field for error in caught.value.errors}
    assert {"cpu_usage", "gpu_usage", "interval_seconds",
            "running_tasks.0.progress_percent"} <= fields


@pytest.mark.parametrize("raw", [b"not json", b"[1, 2]", b'{"worker_id": ""}'])
def test_malformed_bodies_are_invalid_events(raw: bytes) -> None:
    with pytest.raises(InvalidEvent):
        from_body(raw, source="a", received_at=NOW)


def test_regression_a_task_without_task_id_no_longer_rejects_the_heartbeat() -> None:
    """Issue 10 item 14: one running task without an id used to make the whole beat a 422."""
    tasks = [{"task_id": "t1", "name": "train"}, {"name": "eval", "progress_percent": 10},
             {"task_id": None, "name": "export"}, {"task_id": "", "name": "export"}]
    event = from_body(orjson.dumps({**BODY, "running_tasks": tasks}), source="a",
                      received_at=NOW)
    ids = [task.task_id for task in event.running_tasks]
    assert ids[0] == "t1"
    assert all(i.startswith("task-") for i in ids[1:]) and len(set(ids)) == 4
    assert ids[3] == ids[2] + "-2", "same identity twice in one beat: the second is numbered"


def test_a_derived_task_id_depends_on_the_worker_and_the_task_not_its_progress() -> None:
    def task_id(worker_id: str, **task: object) -> str:
        body = {**BODY, "worker_id": worker_id, "running_tasks": [task]}
        return from_body(orjson.dumps(body), source="a", received_at=NOW).running_tasks[0].task_id

    first = task_id("gpu-1", name="eval", progress_percent=10)
    assert task_id("gpu-1", name="eval", progress_percent=80) == first
    assert task_id("gpu-1", progress_percent=80, name="eval") == first, "key order"
    assert task_id("gpu-2", name="eval", progress_percent=10) != first
    assert task_id("gpu-1", name="train", progress_percent=10) != first


def test_a_heartbeat_read_from_the_topic_derives_the_same_task_ids() -> None:
    body = {**BODY, "running_tasks": [{"name": "eval"}], "ts": "2025-10-10T14:35:42Z",
            "source": "emitter", "event_id": "0b7e3a8c-5d24-4c61-9a0f-1e2d3c4b5a69"}
    posted = from_body(orjson.dumps(body), source="a", received_at=NOW)
    consumed = validate(WorkerHeartbeat, orjson.loads(orjson.dumps(body)))
    assert consumed.running_tasks == posted.running_tasks
    assert decode(WorkerHeartbeat, consumed.encode()) == consumed


def test_a_task_that_is_not_an_object_is_still_an_error() -> None:
    with pytest.raises(InvalidEvent) as caught:
        from_body(orjson.dumps({**BODY, "running_tasks": ["t1"]}), source="a", received_at=NOW)
    assert [error.field for error in caught.value.errors] == ["running_tasks.0"]
