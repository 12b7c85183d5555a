"""The envelope every fleetstream event carries, and decoding/encoding of events on the wire.

Why it exists: `event_id` (stable across producer retries, so redeliveries are recognisable),
`schema` (name/version), `source` (producer instance) and `ts` (event time, UTC) are common to all
topics; each domain model subclasses `Event` and adds its payload.

Event types are pydantic models rather than Faust Records: pydantic reports every bad field (for
HTTP 422 and dead-letter reasons) and exports JSON Schema for producers in other languages.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any, ClassVar, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

from schemas.errors import InvalidEvent


def _utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("timestamp must carry a UTC offset (RFC 3339), e.g. 2025-10-10T14:35:42Z")
    return value.astimezone(UTC)


UtcDatetime = Annotated[datetime, AfterValidator(_utc)]
NonNegativeInt = Annotated[int, Field(ge=0)]
NonNegativeFloat = Annotated[float, Field(ge=0)]
Percent = Annotated[float, Field(ge=0, le=100)]
Identifier = Annotated[str, Field(min_length=1, max_length=256)]


class Event(BaseModel):
    """Common envelope: event_id, schema, source, ts. Subclasses set `SCHEMA` and a Literal."""

    model_config = ConfigDict(frozen=True, populate_by_name=True, extra="ignore")

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


E = TypeVar("E", bound=Event)


def decode(model: type[E], raw: bytes | str) -> E:
    """Parse and validate one event; raises `InvalidEvent` naming every bad field."""
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        raise InvalidEvent.from_pydantic(exc) from None


def validate(model: type[E], data: dict[str, Any]) -> E:
    """Validate an already-parsed mapping (e.g. from a seed adapter)."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise InvalidEvent.from_pydantic(exc) from None


def now_utc() -> datetime:
    return datetime.now(UTC)
