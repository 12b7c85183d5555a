"""Seed 003's backup telemetry body (`POST /api/v1/telemetry/{job_type}/{job_id}`) as an event.

Why it exists: the seed's backup client sends a body without `seq`, `event_id` or `source`, and
names the job in the URL path. Here:
- `job_type` and `job_id` come from the path (a body `job_type` that disagrees is an error);
- `seq` is the body's `timestamp` in microseconds since the epoch: the client's reports are
  monotonic per job in event time, which is exactly what `seq` must be. The seed's timestamps
  have one-second resolution, so two reports of one second share a `seq`; the fold orders those
  by progress and `event_id` (`streams.domain.backup`), so both count whatever their order;
- `event_id` is a uuid5 of job_id, that timestamp and a hash of the body's content (key order
  does not matter), so a client that re-POSTs the same body produces a duplicate the workers drop.

The envelope is the adapter's, never the body's: body keys `seq`, `source`, `event_id`, `ts` and
`schema` are ignored (a client must not pick its own `seq` and overtake other reports, nor forge
its origin), and a body `job_id` or `job_type` that disagrees with the path is an error.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from pydantic import TypeAdapter, ValidationError

from schemas.backup import BackupProgress
from schemas.errors import FieldError, InvalidEvent
from schemas.event import (
    LATEST,
    EventTime,
    content_event_id,
    epoch_micros,
    parse_json_object,
    rejecting,
    validate,
)

_EVENT_NAMESPACE = uuid.UUID("3b0d2c9e-7f43-4d6a-9a55-b1f3c0e8d217")
_TIMESTAMP = TypeAdapter(EventTime)
_ENVELOPE = frozenset({"timestamp", "seq", "source", "event_id", "ts", "schema", "schema_name",
                       "job_id", "job_type"})
"""Body keys the adapter sets itself from the path and the timestamp."""


def _timestamp(body: dict[str, Any], latest: datetime | None) -> datetime:
    if "timestamp" not in body:
        raise InvalidEvent.single("timestamp", "Field required (RFC 3339 UTC event time)")
    try:
        return _TIMESTAMP.validate_python(
            body["timestamp"], context=None if latest is None else {LATEST: latest})
    except ValidationError as exc:
        raise InvalidEvent([FieldError("timestamp", err["msg"]) for err in exc.errors()]) from None


def _matches_path(body: dict[str, Any], name: str, value: str) -> None:
    if name in body and body[name] != value:
        raise InvalidEvent.single(
            name, f"body says {body[name]!r:.100} but the URL path says {value!r}")


def from_seed_body(job_type: str, job_id: str, raw: bytes, source: str, *,
                   latest: datetime | None = None) -> BackupProgress:
    """Parse and validate one seed 003 body posted for `job_type`/`job_id`.

    With `latest`, a `timestamp` later than it is rejected (see `schemas.event.decode`).
    """
    with rejecting():
        return _from_seed_body(job_type, job_id, raw, source, latest)


def _from_seed_body(job_type: str, job_id: str, raw: bytes, source: str,
                    latest: datetime | None) -> BackupProgress:
    body = parse_json_object(raw)
    _matches_path(body, "job_type", job_type)
    _matches_path(body, "job_id", job_id)
    errors: list[FieldError] = []
    try:
        at = _timestamp(body, latest)
    except InvalidEvent as exc:
        # Keep going with a placeholder, so the client hears about every bad field at once.
        errors.extend(exc.errors)
        at = datetime.fromtimestamp(0, UTC)
    seq = epoch_micros(at)
    fields = {key: value for key, value in body.items() if key not in _ENVELOPE}
    try:
        event = validate(BackupProgress, {
            **fields,
            "event_id": content_event_id(_EVENT_NAMESPACE, body, job_id, seq),
            "source": source,
            "ts": at,
            "job_id": job_id,
            "job_type": job_type,
            "seq": seq,
        })
    except InvalidEvent as exc:
        errors.extend(exc.errors)
    if errors:
        raise InvalidEvent(errors)
    return event
