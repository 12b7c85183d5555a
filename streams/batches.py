"""Turning a batch of raw Kafka records into validated events; the invalid ones become dead letters.

Why it exists: every agent consumes raw bytes in batches (`stream.take_events(BATCH_MAX_LINES,
within=BATCH_MAX_SEC)`), decodes them with the domain's model (an `Event`, or any pydantic model
such as `Alert`), and must never crash or silently skip on bad input. This is the one place that
does it: invalid records go to the dead-letter topic with the reason and their
topic/partition/offset, and are acknowledged only after Kafka has the dead letter.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from pydantic import BaseModel

from schemas.deadletter import DeadLetter
from schemas.errors import InvalidEvent
from schemas.event import decode
from streams import topics

log = logging.getLogger(__name__)

E = TypeVar("E", bound=BaseModel)


@dataclass(frozen=True, slots=True)
class Decoded(Generic[E]):
    """A valid event with the partition and offset it was read from."""

    event: E
    partition: int
    offset: int


async def decode_batch(records: Sequence[Any], model: type[E]) -> list[Decoded[E]]:
    """Decode Faust events (`stream.take_events`) into `Decoded`; dead-letter the rest."""
    good: list[Decoded[E]] = []
    rejected: list[Any] = []
    for record in records:
        message = record.message
        try:
            event = decode(model, message.value)
        except InvalidEvent as exc:
            letter = DeadLetter.of(message.value or b"", exc.reason, exc.errors,
                                   topic=message.topic, partition=message.partition,
                                   offset=message.offset)
            rejected.append(await topics.deadletter.send(key=message.key, value=letter.encode()))
            log.warning("deadletter topic=%s partition=%d offset=%d reason=%r",
                        message.topic, message.partition, message.offset, exc.reason)
            continue
        good.append(Decoded(event, message.partition, message.offset))
    if rejected:
        await asyncio.gather(*rejected)
    return good
