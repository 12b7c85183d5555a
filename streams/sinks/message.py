"""One record for a Kafka topic, as plain data.

Why it exists: the projections build the points topic's records and must stay pure (no Kafka
client, no Faust), so they can be unit- and mutation-tested in a venv without either
(`make mutation`). `streams.sinks.topic.TopicSink` sends them.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Message:
    """One record for the topic."""

    key: bytes
    value: bytes
