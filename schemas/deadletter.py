"""Dead-letter records: input that could not be accepted, kept with the reason and its origin.

Why it exists: invalid events never crash a worker and are never dropped silently; they go to the
dead-letter topic with the raw bytes, the error, and where they came from (topic/partition/offset
for stream input, the endpoint for HTTP ingest), so an operator can inspect and replay them.
"""

from __future__ import annotations

import base64
from datetime import datetime

from pydantic import BaseModel, ConfigDict

from schemas.errors import FieldError
from schemas.event import Count, NonNegativeInt, UtcDatetime, now_utc

MAX_RAW_BYTES = 96 * 1024
"""The most of a rejected input a dead letter keeps. With the bounds below, and JSON escaping a
control character in six bytes, an encoded letter stays under 800 KiB whatever the input: under
the producer's 1 MiB batch and the broker's default `max.message.bytes`. A whole hostile record
of up to 1 MiB could not be dead-lettered at all, and its partition stalled on the retried
batch."""

MAX_FIELD_ERRORS = 50
"""The most field errors a dead letter lists (an input can have one per field)."""

MAX_FIELD_CHARS = 256
"""The longest field path and message of a field error a dead letter keeps."""

MAX_ERROR_CHARS = 4096
"""The longest `error` a dead letter keeps."""


class DeadLetter(BaseModel):
    """A rejected input. `raw` is the original text, or base64 when it was not UTF-8.

    `raw` and `error` are deliberately not restricted like event fields: the record must keep
    the hostile input exactly (JSON escapes every character on the wire), and it is never
    projected into a table. An input longer than `MAX_RAW_BYTES` keeps only its first
    `MAX_RAW_BYTES` (`raw_truncated`, its length in `raw_bytes`): enough to tell what it was,
    not to redrive it.
    """

    model_config = ConfigDict(frozen=True)

    error: str
    field_errors: list[dict[str, str]]
    raw: str
    raw_encoding: str
    raw_truncated: bool = False
    raw_bytes: NonNegativeInt | None = None
    origin_topic: str | None = None
    origin_partition: Count | None = None
    origin_offset: NonNegativeInt | None = None
    origin_endpoint: str | None = None
    at: UtcDatetime

    @classmethod
    def of(
        cls,
        raw: bytes,
        error: str,
        field_errors: list[FieldError] | None = None,
        *,
        topic: str | None = None,
        partition: int | None = None,
        offset: int | None = None,
        endpoint: str | None = None,
        at: datetime | None = None,
    ) -> DeadLetter:
        kept = raw[:MAX_RAW_BYTES]
        try:
            text, encoding = kept.decode("utf-8"), "utf-8"
        except UnicodeDecodeError:  # not UTF-8, or a character cut at the end
            text, encoding = base64.b64encode(kept).decode(), "base64"
        errors = [{"field": e.field[:MAX_FIELD_CHARS], "message": e.message[:MAX_FIELD_CHARS]}
                  for e in (field_errors or [])[:MAX_FIELD_ERRORS]]
        if field_errors and len(field_errors) > MAX_FIELD_ERRORS:
            errors.append({"field": "", "message": f"and {len(field_errors) - MAX_FIELD_ERRORS} "
                                                   "more field errors"})
        truncated = len(raw) > MAX_RAW_BYTES
        return cls(error=error[:MAX_ERROR_CHARS], field_errors=errors, raw=text,
                   raw_encoding=encoding, raw_truncated=truncated,
                   raw_bytes=len(raw) if truncated else None, origin_topic=topic,
                   origin_partition=partition, origin_offset=offset, origin_endpoint=endpoint,
                   at=at or now_utc())

    def encode(self) -> bytes:
        return self.model_dump_json().encode()
