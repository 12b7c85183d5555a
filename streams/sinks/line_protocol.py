"""One InfluxDB line-protocol point, escaped per the spec for every character.

Why it exists: a point is text, and user data (node, job, worker and VM ids) ends up in its tags.
A value escaped for `,= ` only lets a newline split the line and forge a second point, and a
trailing backslash escape the separator after it. Here every part is escaped by its own rule
(https://docs.influxdata.com/influxdb3/core/reference/line-protocol/#special-characters):

| part | escaped |
|---|---|
| measurement | comma, space, backslash |
| tag keys, tag values, field keys | comma, equals sign, space, backslash |
| string field values | double quote, backslash (inside the double quotes) |

A backslash is escaped as `\\\\` (the spec: of two contiguous backslashes the first is the
escape; VictoriaMetrics unescapes the same way), so a value ending in a backslash can no longer
escape the `,`, `=` or space after it.

What cannot be written is refused, never mangled: line protocol has no escape for a newline,
carriage return or any other control character (C0, DEL, C1) in any part, so such a point, like a
NaN/inf float, an integer beyond int64, an empty key, a measurement starting with `#` (a comment
line), a naive timestamp or one beyond int64 nanoseconds, raises `UnwritablePoint` with the
reason. The caller dead-letters the event it came from: it can never be written, and retrying
would stall the batch.

Types: ints get the `i` suffix, bools are `true`/`false`, floats are always written as floats
(`1.0`, never `1i`), strings are quoted; None fields are left out and a point with no fields at
all is None (line protocol needs one). Tags are sorted by key, as the spec recommends; fields
too, so a point's text is deterministic. Timestamps are integer nanoseconds computed with integer
arithmetic (epoch microseconds * 1000), never through a float.

What it must not do: I/O, or know what the points mean.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Mapping
from datetime import UTC, datetime

FieldValue = float | int | bool | str

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_MEASUREMENT = re.compile(r"([\\, ])")
_KEY_OR_TAG = re.compile(r"([\\,= ])")
_STRING = re.compile(r'(["\\])')


class UnwritablePoint(ValueError):
    """A point line protocol cannot express; `reason` says which part and why."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


def _writable(text: str, what: str) -> str:
    if match := _CONTROL.search(text):
        raise UnwritablePoint(
            f"{what} {text[:64]!r} contains control character U+{ord(match.group()):04X}, "
            "which line protocol cannot escape")
    return text


@functools.lru_cache(maxsize=4096)
def _name(text: str, what: str, pattern: re.Pattern[str]) -> str:
    # Cached: measurements, keys and the live ids (tag values) repeat on every point; bounded so
    # the ids of ended jobs do not stay in memory (bench/retention.py).
    if not text:
        raise UnwritablePoint(f"{what} must not be empty")
    return pattern.sub(r"\\\1", _writable(text, what))


def _field_value(key: str, value: FieldValue) -> str:
    # bool first: it is an int subclass.
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        if not INT64_MIN <= value <= INT64_MAX:
            raise UnwritablePoint(f"field {key!r}: integer {value} does not fit 64 bits")
        return f"{value}i"
    if isinstance(value, float):
        if not math.isfinite(value):
            raise UnwritablePoint(f"field {key!r}: {value} is not a finite number")
        return repr(value)  # shortest round-tripping form; always has '.' or 'e'
    if isinstance(value, str):
        return '"' + _STRING.sub(r"\\\1", _writable(value, f"field {key!r} value")) + '"'
    raise UnwritablePoint(f"field {key!r}: a {type(value).__name__} is not a field value")


def timestamp_ns(at: datetime) -> int:
    """Nanoseconds since the epoch, exactly: integer microseconds * 1000, no float rounding."""
    if at.tzinfo is None or at.utcoffset() is None:
        raise UnwritablePoint(f"timestamp {at.isoformat()} has no UTC offset")
    delta = at - _EPOCH
    ns = ((delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds) * 1000
    if not INT64_MIN <= ns <= INT64_MAX:
        raise UnwritablePoint(f"timestamp {at.isoformat()} is beyond int64 nanoseconds")
    return ns


def line(
    measurement: str,
    tags: Mapping[str, str],
    fields: Mapping[str, FieldValue | None],
    at: datetime,
) -> str | None:
    """One point; None fields are left out, no fields at all gives None.

    Empty tag values are left out too (the spec forbids them). Raises `UnwritablePoint`.
    """
    if measurement.startswith("#"):
        raise UnwritablePoint(f"measurement {measurement[:64]!r} would make the line a comment")
    field_part = ",".join(
        f"{_name(key, 'field key', _KEY_OR_TAG)}={_field_value(key, value)}"
        for key, value in sorted(fields.items()) if value is not None)
    if not field_part:
        return None
    tag_part = "".join(
        f",{_name(key, 'tag key', _KEY_OR_TAG)}={_name(value, f'tag {key!r}', _KEY_OR_TAG)}"
        for key, value in sorted(tags.items()) if value != "")
    name = _name(measurement, "measurement", _MEASUREMENT)
    return f"{name}{tag_part} {field_part} {timestamp_ns(at)}"
