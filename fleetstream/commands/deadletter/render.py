"""How dead letters are shown: a table for people, JSON for scripts.

Why it exists: everything in a dead letter came from outside (the payload, and reasons and
endpoints derived from it), so every cell goes through `printable` before it reaches a terminal:
an escape sequence in a rejected payload must show up as `\\x1b`, not recolour the screen. JSON is
ASCII-only for the same reason.
"""

from __future__ import annotations

import base64
import json
from datetime import datetime
from typing import Any

from fleetstream.commands import printable
from fleetstream.commands.api import table
from fleetstream.commands.deadletter.reading import RawPayloadError, Record

PREVIEW_CHARS = 60
REASON_CHARS = 60


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")


def origin(record: Record) -> str:
    """`topic:partition:offset` of a stream input, the path of an HTTP one, `-` if unknown."""
    letter = record.letter
    if letter is None:
        return "-"
    if letter.origin_topic is not None:
        return f"{letter.origin_topic}:{letter.origin_partition}:{letter.origin_offset}"
    return letter.origin_endpoint or "-"


def preview(record: Record, limit: int = PREVIEW_CHARS) -> str:
    """The start of the rejected payload, escaped; bytes that are not UTF-8 show as `\\xff`."""
    try:
        raw = record.original()
    except RawPayloadError:
        raw = record.value
    return printable(raw[: limit * 4].decode("utf-8", errors="surrogateescape"), limit)


def reason(record: Record, limit: int | None = REASON_CHARS) -> str:
    text = record.letter.error if record.letter is not None else record.problem or "-"
    return printable(text, limit)


def format_table(records: list[Record]) -> str:
    if not records:
        return "no dead letters"
    return table(("ID", "TIME", "ORIGIN", "REASON", "PAYLOAD"), [
        (record.address, _iso(record.at), printable(origin(record), 80), reason(record),
         preview(record)) for record in records])


def _bytes_field(data: bytes | None) -> tuple[str | None, str | None]:
    if data is None:
        return None, None
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        return base64.b64encode(data).decode(), "base64"


def as_json(record: Record) -> dict[str, Any]:
    """One record for `--json`: its address and key, and the dead letter as stored."""
    key, key_encoding = _bytes_field(record.key)
    entry: dict[str, Any] = {
        "partition": record.partition, "offset": record.offset, "id": record.address,
        "timestamp": _iso(record.at), "key": key, "key_encoding": key_encoding,
    }
    if record.letter is not None:
        entry["dead_letter"] = record.letter.model_dump(mode="json")
    else:
        value, value_encoding = _bytes_field(record.value)
        entry.update(dead_letter=None, problem=record.problem, value=value,
                     value_encoding=value_encoding)
    return entry


def format_json(records: list[Record]) -> str:
    return json.dumps([as_json(record) for record in records], indent=2, ensure_ascii=True)
