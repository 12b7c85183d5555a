"""Re-submitting dead letters: which ones can go back, and sending them to their origin topic.

Why it exists: once the cause of a rejection is fixed (a schema accepts what it refused, a sink
column was widened), the rejected inputs should be processed after all. A stream input goes back,
byte for byte and under its original key (the dead-letter record carries it), to the topic it was
read from, where the stream workers decode it again: still invalid, it is dead-lettered again.

What it must not do: send anything it cannot vouch for. Skipped, each with its reason:
- records that are not dead letters, or whose raw bytes cannot be recovered;
- HTTP ingest rejections (`origin_endpoint`): their body is in the endpoint's seed format, not
  an event, and no topic takes it as is; the operator re-POSTs it to the endpoint;
- an origin topic outside this deployment's topic prefix, or the dead-letter topic itself: the
  origin is read from the record, and a forged record must not write to an arbitrary topic.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass

from aiokafka import AIOKafkaProducer

from fleetstream.commands.deadletter.reading import RawPayloadError, Record

REDRIVE_HEADER = "fleetstream-redriven-from"
"""Header on a re-submitted record: `<dead-letter topic>:<partition>:<offset>` it came from."""


@dataclass(frozen=True, slots=True)
class Resend:
    """One dead letter to re-submit: its original bytes, key and topic."""

    record: Record
    topic: str
    key: bytes | None
    value: bytes


@dataclass
class Plan:
    """What a redrive sends, and what it skips with the reason."""

    resend: list[Resend]
    skipped: list[tuple[Record, str]]


def plan(records: Sequence[Record], topic_prefix: str, deadletter_topic: str) -> Plan:
    """Sort `records` into those that can go back to their origin topic and the rest."""
    result = Plan([], [])
    for record in records:
        letter = record.letter
        if letter is None:
            result.skipped.append((record, record.problem or "not a dead letter"))
            continue
        if letter.origin_topic is None:
            result.skipped.append((record, (
                f"rejected by the HTTP endpoint {letter.origin_endpoint or '?'}: its body is in "
                "that endpoint's format and has no origin topic; re-POST it to the endpoint")))
            continue
        if not _redrivable(letter.origin_topic, topic_prefix, deadletter_topic):
            result.skipped.append((record, (
                f"origin topic {letter.origin_topic!r} is not a topic of prefix "
                f"{topic_prefix!r}")))
            continue
        try:
            value = record.original()
        except RawPayloadError as exc:
            result.skipped.append((record, str(exc)))
            continue
        result.resend.append(Resend(record, letter.origin_topic, record.key, value))
    return result


def _redrivable(topic: str, topic_prefix: str, deadletter_topic: str) -> bool:
    # `__`: Kafka's and Faust's internal topics, which an empty prefix would otherwise admit.
    return (topic.startswith(topic_prefix) and topic != deadletter_topic
            and not topic.startswith("__"))


async def resend(bootstrap: str, deadletter_topic: str, items: Sequence[Resend],
                 timeout: float) -> tuple[int, list[tuple[Resend, str]]]:
    """Send `items` and wait for Kafka's acknowledgements: (acknowledged, failed with why)."""
    if not items:
        return 0, []
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True,
                                client_id="fleetstream-deadletter-redrive")
    try:
        await asyncio.wait_for(producer.start(), timeout)
    except BaseException:
        await producer.stop()
        raise
    failed: list[tuple[Resend, str]] = []
    try:
        futures = []
        for item in items:
            header = f"{deadletter_topic}:{item.record.address}".encode()
            futures.append(await producer.send(item.topic, value=item.value, key=item.key,
                                               headers=[(REDRIVE_HEADER, header)]))
        _, pending = await asyncio.wait(futures, timeout=timeout)
        for item, future in zip(items, futures, strict=True):
            if future in pending:
                failed.append((item, f"not acknowledged within {timeout:g}s"))
            elif future.exception() is not None:
                failed.append((item, repr(future.exception())))
        return len(items) - len(failed), failed
    finally:
        # Bounded: stop() waits for unacknowledged batches, forever if the broker went away.
        await asyncio.wait_for(producer.stop(), timeout)
