"""The envelope every fleetstream event carries, and decoding/encoding of events on the wire.

Why it exists: `event_id` (stable across producer retries, so redeliveries are recognisable),
`schema` (name/version), `source` (producer instance) and `ts` (event time, UTC) are common to all
topics; each domain model subclasses `Event` and adds its payload. Bodies that arrive without an
envelope (HTTP, seed formats) are parsed with `parse_json_object` and get a `content_event_id`, so
a re-sent body is recognisably the same event.

Event types are pydantic models rather than Faust Records: pydantic reports every bad field (for
HTTP 422 and dead-letter reasons) and exports JSON Schema for producers in other languages.
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime
from typing import Annotated, Any, ClassVar, TypeVar

import orjson
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

from schemas.errors import InvalidEvent


def _utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("timestamp must carry a UTC offset (RFC 3339), e.g. 2025-10-10T14:35:42Z")
    return value.astimezone(UTC)


UtcDatetime = Annotated[datetime, AfterValidator(_utc)]
# Bounds the sinks can store: PostgreSQL int8, no NUL in text, no inf/NaN (see `Part`/`Event`).
# A value outside them is rejected here (422 or dead letter), never passed to a projection, where
# it would crash the agent or stall its partition.
NonNegativeInt = Annotated[int, Field(ge=0, le=2**63 - 1)]
NonNegativeFloat = Annotated[float, Field(ge=0)]
Percent = Annotated[float, Field(ge=0, le=100)]
Identifier = Annotated[str, Field(min_length=1, max_length=256, pattern=r"^[^\x00]+$")]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def epoch_micros(at: datetime) -> int:
    """Microseconds since the epoch, exactly (no float rounding): the unit of `seq` and times."""
    delta = at - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


class Part(BaseModel):
    """A nested part of an event (a disk, a NIC, a task): immutable and tolerant like `Event`.

    Unknown fields are ignored, so a newer producer's extra figures do not break older workers.
    """

    model_config = ConfigDict(frozen=True, extra="ignore", allow_inf_nan=False)


class Event(BaseModel):
    """Common envelope: event_id, schema, source, ts. Subclasses set `SCHEMA` and a Literal."""

    model_config = ConfigDict(frozen=True, populate_by_name=True, extra="ignore",
                              allow_inf_nan=False)

    SCHEMA: ClassVar[str]

    event_id: uuid.UUID
    schema_name: str = Field(alias="schema")
    source: Identifier
    ts: UtcDatetime

    def encode(self) -> bytes:
        """The event as JSON bytes, as it goes on the wire."""
        return self.model_dump_json(by_alias=True).encode()

    def as_json_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True)


# Any pydantic model, not only `Event`s: alerts and seed bodies are decoded the same way.
M = TypeVar("M", bound=BaseModel)


def decode(model: type[M], raw: bytes | str) -> M:
    """Parse and validate one event; raises `InvalidEvent` naming every bad field."""
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        raise InvalidEvent.from_pydantic(exc) from None


def parse_json_object(raw: bytes | str) -> dict[str, Any]:
    """A body that must be one JSON object; raises `InvalidEvent` on `(body)` otherwise."""
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidEvent.single("(body)", f"not valid JSON: {exc}") from None
    if not isinstance(body, dict):
        raise InvalidEvent.single("(body)", "must be a JSON object")
    return body


def content_event_id(namespace: uuid.UUID, body: dict[str, Any], *context: object) -> uuid.UUID:
    """Deterministic id of a body without one: uuid5 of `context` and a hash of the content.

    Key order does not matter, so a client re-sending the same body sends the same event.
    """
    digest = hashlib.sha256(orjson.dumps(body, option=orjson.OPT_SORT_KEYS)).hexdigest()
    return uuid.uuid5(namespace, "|".join([*map(str, context), digest]))


def validate(model: type[M], data: dict[str, Any]) -> M:
    """Validate an already-parsed mapping (e.g. from a seed adapter)."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise InvalidEvent.from_pydantic(exc) from None


def now_utc() -> datetime:
    return datetime.now(UTC)
