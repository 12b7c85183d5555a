"""Points for the TSDB, as records of the points topic: a batch's lines in few records.

Why it exists: a pipeline does not write the TSDB itself (an outage there must not hold
PostgreSQL back); it writes its line-protocol points to the points topic, and the TSDB pipeline
drains it. A projection makes one message per key and batch (`point_message`); the sink sends a
batch's messages `coalesce`d into records of up to `MAX_RECORD_BYTES`, lines separated by
newlines. Every Kafka record costs the worker about as much as consuming an event does (Faust's
send and, on the TSDB pipeline, its dispatch), so one record per key would make the points as
costly as the events they come from. A line the TSDB refuses dead-letters the record it is in.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from streams.sinks.message import Message

SINK = "points"
"""The sink name under which projections hand their points to the runtime."""


def point_message(key: str, lines: Iterable[str | None]) -> Message | None:
    """One points-topic record with the key's lines (None lines dropped); None when empty."""
    text = "\n".join(line for line in lines if line)
    return Message(key.encode(), text.encode()) if text else None


MAX_RECORD_BYTES = 256 * 1024
"""Largest points record `coalesce` makes (the broker and the producer take 1 MiB)."""


def coalesce(messages: Sequence[Message], max_bytes: int = MAX_RECORD_BYTES) -> list[Message]:
    """`messages` joined, in order, into as few records of at most `max_bytes` as fit (a larger
    message stays alone); a record is keyed by its first message's key."""
    records: list[Message] = []
    key, parts, size = b"", list[bytes](), 0
    for message in messages:
        if parts and size + 1 + len(message.value) > max_bytes:
            records.append(Message(key, b"\n".join(parts)))
            parts = []
        if not parts:
            key, size = message.key, -1
        parts.append(message.value)
        size += 1 + len(message.value)
    if parts:
        records.append(Message(key, b"\n".join(parts)))
    return records


def split_lines(value: bytes) -> list[str]:
    """The lines of one points-topic record (the TSDB pipeline's decoder)."""
    return [line for line in value.decode("utf-8").split("\n") if line]
