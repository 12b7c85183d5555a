"""`worker.heartbeat/1`: one heartbeat of a compute worker (seed 004), and its HTTP body.

Why it exists: the heartbeat emitter library, the `heartbeat` command and `POST /api/heartbeat`
all publish this one event to `telemetry.heartbeat` (key: worker_id). It carries the worker's
resource usage (percent of the machine), what it is running, and the interval it promises to beat
at; the stream workers derive active/inactive from the event times.

A running task without a `task_id` (missing, null or empty: proto3 JSON leaves an empty string
out) gets a derived one, `task-` and 16 hex digits of a hash of the worker id and the task's
identity (its fields but `progress_percent`, so the id stays put while the task progresses); a
second task of the same heartbeat with the same identity gets `-2`, the next `-3`. This happens
in the model, so the HTTP body and a record read from the topic are treated alike, and a re-sent
heartbeat derives the same ids. One such task used to reject the whole heartbeat.

What it must not do: decide activity. `interval_seconds` is the emitter's promise, for display;
inactivity is judged by the stream workers' own threshold (FLEETSTREAM_WORKER_INACTIVE_SECONDS).
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import datetime
from typing import Annotated, Any, ClassVar, Literal

import orjson
from pydantic import Field, model_validator

from schemas.event import (
    Event,
    EventTime,
    Identifier,
    Part,
    Percent,
    ShortText,
    content_event_id,
    parse_json_object,
    rejecting,
    validate,
)

MAX_RUNNING_TASKS = 1000

_EVENT_NAMESPACE = uuid.UUID("b6a51c1e-2f0d-4a8e-8d77-5c3e9f1a2b64")

PositiveSeconds = Annotated[float, Field(gt=0, le=86_400)]


class RunningTask(Part):
    """One task a worker is running (seed 004's `RunningTask`): its id, and what is known of it."""

    task_id: Identifier
    name: ShortText | None = None
    task_type: ShortText | None = None
    started_at: EventTime | None = None
    progress_percent: Percent | None = None


_NO_TASK_ID = (None, "")
_PROGRESS_FIELDS = frozenset({"task_id", "progress_percent"})


def derived_task_id(worker_id: str, task: dict[str, Any]) -> str | None:
    """The id of a task sent without one: from the worker and the task's identity (not its
    progress). None when the task cannot be hashed (validation then reports the field)."""
    identity = {k: v for k, v in task.items() if k not in _PROGRESS_FIELDS}
    try:
        content = orjson.dumps([worker_id, identity], option=orjson.OPT_SORT_KEYS)
    except orjson.JSONEncodeError:
        return None
    return "task-" + hashlib.sha256(content).hexdigest()[:16]


def with_task_ids(worker_id: str, tasks: list[Any]) -> list[Any]:
    """`tasks` with a derived `task_id` on each task dict that has none (see the module)."""
    seen: dict[str, int] = {}
    result: list[Any] = []
    for task in tasks:
        derived = None
        if isinstance(task, dict) and task.get("task_id") in _NO_TASK_ID:
            derived = derived_task_id(worker_id, task)
        if derived is None:
            result.append(task)
            continue
        seen[derived] = seen.get(derived, 0) + 1
        suffix = "" if seen[derived] == 1 else f"-{seen[derived]}"
        result.append({**task, "task_id": derived + suffix})
    return result


class WorkerHeartbeat(Event):
    """A worker's heartbeat: usage in percent (GPU null without one), running tasks, interval."""

    SCHEMA: ClassVar[str] = "worker.heartbeat/1"
    schema_name: Literal["worker.heartbeat/1"] = Field(default="worker.heartbeat/1",
                                                       alias="schema")

    worker_id: Identifier
    cpu_usage: Percent
    memory_usage: Percent
    gpu_usage: Percent | None = None
    running_tasks: list[RunningTask] = Field(default_factory=list,
                                             max_length=MAX_RUNNING_TASKS)
    interval_seconds: PositiveSeconds = 5.0

    @model_validator(mode="before")
    @classmethod
    def _derive_task_ids(cls, data: Any) -> Any:
        if not isinstance(data, dict) or not isinstance(data.get("running_tasks"), list):
            return data
        tasks = data["running_tasks"]
        if not any(isinstance(t, dict) and t.get("task_id") in _NO_TASK_ID for t in tasks):
            return data
        return {**data, "running_tasks": with_task_ids(str(data.get("worker_id")), tasks)}


def from_body(raw: bytes, source: str, received_at: datetime, *,
              latest: datetime | None = None) -> WorkerHeartbeat:
    """A heartbeat posted over HTTP. The envelope is optional there: a body without `ts` is
    stamped with `received_at`, without `source` gets `source`, without `event_id` gets one
    derived from its content (and its `ts`, so two identical beats at different times differ).
    With `latest`, a `ts` or task start later than it is rejected (see `schemas.event.decode`)."""
    with rejecting():
        body = parse_json_object(raw)
        body.setdefault("ts", received_at.isoformat())
        body.setdefault("source", source)
        body.setdefault("event_id", str(content_event_id(_EVENT_NAMESPACE, body)))
        return validate(WorkerHeartbeat, body, latest=latest)


class WorkerForget(Event):
    """An operator unregistering a worker (`fleetstream workers forget`, `DELETE /workers/{id}`).

    Published on the heartbeat topic with the worker's key, so it is ordered with its heartbeats:
    the stream workers drop the worker's state and row; a heartbeat after it registers it again.
    """

    SCHEMA: ClassVar[str] = "worker.forget/1"
    schema_name: Literal["worker.forget/1"] = Field(default="worker.forget/1", alias="schema")

    worker_id: Identifier


HeartbeatTopicEvent = WorkerHeartbeat | WorkerForget
"""What the heartbeat topic carries."""
