"""Points for the TSDB, as records of the points topic: one record per key and batch.

Why it exists: a pipeline does not write the TSDB itself (an outage there must not hold
PostgreSQL back); it writes its line-protocol points to the points topic, keyed by the pipeline's
key, and the TSDB pipeline drains it. Lines of one key and batch travel in one record, separated
by newlines, so a rejected line dead-letters no more than its key's batch.
"""

from __future__ import annotations

from collections.abc import Iterable

from streams.sinks.message import Message

SINK = "points"
"""The sink name under which projections hand their points to the runtime."""


def point_message(key: str, lines: Iterable[str | None]) -> Message | None:
    """One points-topic record with the key's lines (None lines dropped); None when empty."""
    text = "\n".join(line for line in lines if line)
    return Message(key.encode(), text.encode()) if text else None


def split_lines(value: bytes) -> list[str]:
    """The lines of one points-topic record (the TSDB pipeline's decoder)."""
    return [line for line in value.decode("utf-8").split("\n") if line]
