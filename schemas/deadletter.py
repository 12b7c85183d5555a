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


class DeadLetter(BaseModel):
    """A rejected input. `raw` is the original text, or base64 when it was not UTF-8.

    `raw` and `error` are deliberately not restricted like event fields: the record must keep
    the hostile input exactly (JSON escapes every character on the wire), and it is never
    projected into a table.
    """

    model_config = ConfigDict(frozen=True)

    error: str
    field_errors: list[dict[str, str]]
    raw: str
    raw_encoding: str
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
        try:
            text, encoding = raw.decode("utf-8"), "utf-8"
        except UnicodeDecodeError:
            text, encoding = base64.b64encode(raw).decode(), "base64"
        return cls(error=error, field_errors=[e.as_dict() for e in field_errors or []],
                   raw=text, raw_encoding=encoding, origin_topic=topic,
                   origin_partition=partition, origin_offset=offset, origin_endpoint=endpoint,
                   at=at or now_utc())

    def encode(self) -> bytes:
        return self.model_dump_json().encode()
