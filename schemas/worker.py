"""`worker.heartbeat/1`: one heartbeat of a compute worker (seed 004), and its HTTP body.

Why it exists: the heartbeat emitter library, the `heartbeat` command and `POST /api/heartbeat`
all publish this one event to `telemetry.heartbeat` (key: worker_id). It carries the worker's
resource usage (percent of the machine), what it is running, and the interval it promises to beat
at; the stream workers derive active/inactive from the event times.

What it must not do: decide activity. `interval_seconds` is the emitter's promise, for display;
inactivity is judged by the stream workers' own threshold (FLEETSTREAM_WORKER_INACTIVE_SECONDS).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, ClassVar, Literal

from pydantic import Field

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
