"""The envelope every fleetstream event carries, and decoding/encoding of events on the wire.

Why it exists: `event_id` (stable across producer retries, so redeliveries are recognisable),
`schema` (name/version), `source` (producer instance) and `ts` (event time, UTC) are common to all
topics; each domain model subclasses `Event` and adds its payload. Bodies that arrive without an
envelope (HTTP, seed formats) are parsed with `parse_json_object` and get a `content_event_id`, so
a re-sent body is recognisably the same event.

Event types are pydantic models rather than Faust Records: pydantic reports every bad field (for
HTTP 422 and dead-letter reasons) and exports JSON Schema for producers in other languages.

Validation is where hostile input stops. The field types here bound every value to what the
sinks can store and what is derived from it (int4/int8 columns, finite floats, event times in
1970..2200, ids without control characters, text without NUL), and `decode`/`validate`/
`rejecting` turn ANY failure (pydantic's, OverflowError, RecursionError, ...) into `InvalidEvent`.
With `latest`, event times later than it (the sender's clock is ahead) are rejected as well.
What it must not do: know any database table; the bounds are stated as types, not columns.
"""

from __future__ import annotations

import hashlib
import math
import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Annotated, Any, ClassVar, TypeVar

import orjson
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
)

from schemas.errors import CONTROL_FREE, NUL_FREE, InvalidEvent

# Bounds of what the sinks can store. A value outside them is rejected here (422 or dead letter),
# never passed to a projection, where it would crash the agent or stall its partition for good
# (PostgreSQL refuses the batch on every retry).
INT4_MAX = 2**31 - 1
INT8_MAX = 2**63 - 1

EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
END_OF_TIME = datetime(2200, 1, 1, tzinfo=UTC)
"""Event times lie in [EARLIEST, END_OF_TIME): their epoch nanoseconds fit int64 (the line
protocol's timestamp) with room to spare, and nothing derived from them overflows."""
MAX_SECONDS = int((END_OF_TIME - EARLIEST).total_seconds())
"""No duration (uptime, ETA) can be longer than the accepted event-time range."""

MAX_PARTS = 1024
"""Most disks, NICs or mounts one event may list."""
MAX_NESTING = 32
"""Deepest JSON nesting accepted in a body or a free-form `detail` (seed bodies nest 4 deep)."""

LATEST = "latest"
"""Validation-context key: the latest acceptable event time (now + the allowed clock skew)."""

_OUT_OF_RANGE = (f"timestamp must lie between {EARLIEST:%Y-%m-%d} and {END_OF_TIME:%Y-%m-%d} "
                 "UTC")


def _utc(value: datetime) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("timestamp must carry a UTC offset (RFC 3339), e.g. 2025-10-10T14:35:42Z")
    # Checked before converting: astimezone raises OverflowError (not a validation error) near
    # year 1 and 9999. Offsets are under 24 h, so a year in range converts without overflow.
    if not EARLIEST.year <= value.year < END_OF_TIME.year:
        raise ValueError(_OUT_OF_RANGE)
    utc = value.astimezone(UTC)
    if not EARLIEST <= utc < END_OF_TIME:
        raise ValueError(_OUT_OF_RANGE)
    return utc


def _not_after_latest(value: datetime, info: ValidationInfo) -> datetime:
    latest = info.context.get(LATEST) if isinstance(info.context, dict) else None
    if latest is not None and value > latest:
        ahead = math.ceil((value - latest).total_seconds())
        raise ValueError(
            f"lies {ahead} s in the future beyond the allowed clock skew (latest accepted "
            f"{latest.isoformat()}, max clock skew FLEETSTREAM_MAX_CLOCK_SKEW_SECONDS): "
            "is the sender's clock right?")
    return value


def _assume_utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


UtcDatetime = Annotated[datetime, AfterValidator(_utc)]
"""A time in UTC within the storable range (e.g. when a dead letter was written)."""
EventTime = Annotated[datetime, AfterValidator(_utc), AfterValidator(_not_after_latest)]
"""A time something happened: as `UtcDatetime`, and not later than the context's `latest`."""
SeedEventTime = Annotated[datetime, AfterValidator(_assume_utc), AfterValidator(_utc),
                          AfterValidator(_not_after_latest)]
"""An event time in a seed body: as `EventTime`, but a time without an offset is UTC (seed
000's daemons write `datetime.utcnow().isoformat()`)."""

# Numbers: Field(allow_inf_nan=False) keeps floats finite whatever the model's config.
NonNegativeInt = Annotated[int, Field(ge=0, le=INT8_MAX, strict=True)]
"""A count or byte counter: PostgreSQL int8 and the line protocol's signed 64-bit integer."""
Count = Annotated[int, Field(ge=0, le=INT4_MAX, strict=True)]
"""A small count stored in an int4 column (process_count, active_connections, vcpus)."""
NonNegativeFloat = Annotated[float, Field(ge=0, allow_inf_nan=False)]
Seconds = Annotated[float, Field(ge=0, le=MAX_SECONDS, allow_inf_nan=False)]
"""A duration: rounds into int8 and cannot exceed the event-time range."""
Percent = Annotated[float, Field(ge=0, le=100, allow_inf_nan=False)]

# Text: lone surrogates cannot be encoded to UTF-8 (asyncpg, orjson), NUL is refused by
# PostgreSQL text and jsonb (22021 / 22P05), and control characters in an id would end up in
# line-protocol tags and URLs, where no escape exists for them.
_UNSTORABLE = re.compile(r"[\x00\ud800-\udfff]")


def _found(match: re.Match[str]) -> str:
    return f"U+{ord(match.group()):04X} at position {match.start()}"


def _storable(value: str) -> str:
    if match := _UNSTORABLE.search(value):
        raise ValueError(f"must not contain NUL or lone surrogates (found {_found(match)})")
    return value


# Patterns, not Python validators: checked in pydantic's core, several times faster per field.
# Lone surrogates never get this far: pydantic refuses them in JSON and in Python strings.
Identifier = Annotated[str, Field(min_length=1, max_length=256, pattern=CONTROL_FREE)]
"""An id or name (node, job, worker, VM, disk, status): 1..256 characters, no control ones."""
ShortText = Annotated[str, Field(max_length=256, pattern=NUL_FREE)]
"""Free text shown to people (a task name, a phase): up to 256 characters, storable."""
Text = Annotated[str, Field(max_length=4096, pattern=NUL_FREE)]
"""Longer free text (an error message): up to 4096 characters, storable."""


def _storable_json(value: dict[str, Any]) -> dict[str, Any]:
    """A free-form JSON object that jsonb and orjson can both take (walked without recursion)."""
    pending: list[tuple[Any, int]] = [(value, 1)]
    seen = 0
    while pending:
        item, depth = pending.pop()
        seen += 1
        if depth > MAX_NESTING or seen > 10_000:
            raise ValueError(f"must nest at most {MAX_NESTING} deep and hold at most 10000 values")
        if isinstance(item, dict):
            for key, inner in item.items():
                _storable(str(key))
                pending.append((inner, depth + 1))
        elif isinstance(item, list):
            pending.extend((inner, depth + 1) for inner in item)
        elif isinstance(item, str):
            _storable(item)
        elif isinstance(item, bool | datetime) or item is None:
            continue  # datetimes (from `Alert.transition`) are written as RFC 3339 strings
        elif isinstance(item, int):
            if not -INT8_MAX - 1 <= item <= INT8_MAX:
                raise ValueError("integers must fit 64 bits")
        elif isinstance(item, float):
            if not math.isfinite(item):
                raise ValueError("numbers must be finite")
        else:
            raise ValueError(f"must be JSON (found a {type(item).__name__})")
    return value


JsonObject = Annotated[dict[str, Any], AfterValidator(_storable_json)]
"""A free-form JSON object (an alert's detail) that PostgreSQL jsonb can store."""


def epoch_micros(at: datetime) -> int:
    """Microseconds since the epoch, exactly (no float rounding): the unit of `seq` and times."""
    delta = at - EARLIEST
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
    ts: EventTime

    def encode(self) -> bytes:
        """The event as JSON bytes, as it goes on the wire."""
        return self.model_dump_json(by_alias=True).encode()

    def as_json_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True)


# Any pydantic model, not only `Event`s: alerts and seed bodies are decoded the same way.
M = TypeVar("M", bound=BaseModel)

# What hostile input can make parsing or a validator raise besides pydantic's own errors:
# OverflowError (datetime arithmetic), RecursionError (deep nesting), UnicodeDecodeError and
# orjson's errors (ValueError), TypeError (a wrong type reaching a validator or orjson.dumps).
_REJECTED = (ValueError, TypeError, ArithmeticError, RecursionError, LookupError)
_MAX_REASON = 200


@contextmanager
def rejecting() -> Iterator[None]:
    """Turn any failure to accept an input into `InvalidEvent` (with field errors if known).

    Every edge (decode, validate, the seed adapters) runs inside it, so hostile bytes become a
    422 or a dead letter with a reason, never an exception that crashes an agent.
    """
    try:
        yield
    except InvalidEvent:
        raise
    except ValidationError as exc:
        raise InvalidEvent.from_pydantic(exc) from None
    except _REJECTED as exc:
        detail = str(exc)[:_MAX_REASON]
        raise InvalidEvent.single("(body)", f"cannot be accepted: {type(exc).__name__}: "
                                            f"{detail!r}") from None


def _context(latest: datetime | None) -> dict[str, Any] | None:
    # A naive `latest` is the caller's bug, not the sender's: raised outside `rejecting`.
    if latest is not None and latest.utcoffset() is None:
        raise ValueError("latest must carry a UTC offset, e.g. now_utc() + skew")
    return None if latest is None else {LATEST: latest}


def decode(model: type[M], raw: bytes | str, *, latest: datetime | None = None) -> M:
    """Parse and validate one event; raises `InvalidEvent` naming every bad field.

    With `latest` (now + FLEETSTREAM_MAX_CLOCK_SKEW_SECONDS), event times later than it are
    rejected too.
    """
    context = _context(latest)
    with rejecting():
        return model.model_validate_json(raw, context=context)


def validate(model: type[M], data: dict[str, Any], *, latest: datetime | None = None) -> M:
    """Validate an already-parsed mapping (e.g. from a seed adapter), like `decode`."""
    context = _context(latest)
    with rejecting():
        return model.model_validate(data, context=context)


def _nesting(value: Any) -> int:
    """How deep `value` nests (without recursion: bodies can nest up to orjson's 1024)."""
    deepest = 0
    pending: list[tuple[Any, int]] = [(value, 1)]
    while pending:
        item, depth = pending.pop()
        deepest = max(deepest, depth)
        if isinstance(item, dict):
            pending.extend((inner, depth + 1) for inner in item.values())
        elif isinstance(item, list):
            pending.extend((inner, depth + 1) for inner in item)
    return deepest


def parse_json_object(raw: bytes | str) -> dict[str, Any]:
    """A body that must be one JSON object; raises `InvalidEvent` on `(body)` otherwise.

    Nesting is bounded (`MAX_NESTING`): a deeper body could not be hashed or re-encoded
    (orjson stops at 255 levels), and no fleetstream format nests that deep.
    """
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidEvent.single("(body)", f"not valid JSON: {exc}") from None
    except TypeError as exc:
        raise InvalidEvent.single("(body)", f"not JSON text: {exc}") from None
    if not isinstance(body, dict):
        raise InvalidEvent.single("(body)", "must be a JSON object")
    if _nesting(body) > MAX_NESTING:
        raise InvalidEvent.single("(body)", f"nests deeper than {MAX_NESTING} levels")
    return body


def content_event_id(namespace: uuid.UUID, body: dict[str, Any], *context: object) -> uuid.UUID:
    """Deterministic id of a body without one: uuid5 of `context` and a hash of the content.

    Key order does not matter, so a client re-sending the same body sends the same event.
    """
    digest = hashlib.sha256(orjson.dumps(body, option=orjson.OPT_SORT_KEYS)).hexdigest()
    return uuid.uuid5(namespace, "|".join([*map(str, context), digest]))


def now_utc() -> datetime:
    return datetime.now(UTC)
