"""What every ingest endpoint shares: bearer auth, the body limit, validation, publish-after-ack.

Why it exists: the seed-format endpoints (`/api/telemetry/snapshot`, `/api/v1/telemetry/...`,
`/api/heartbeat`) differ only in how a body becomes an event and how success is answered. Here:
401 without the configured bearer token, 413 over `FLEETSTREAM_MAX_BODY_BYTES`, 422 with the
field errors (and a dead-letter record of the rejected body; an event timed further ahead than
FLEETSTREAM_MAX_CLOCK_SKEW_SECONDS is one), 503 when Kafka did not acknowledge.
An event is acknowledged to the client only after Kafka acknowledged it.
"""

from __future__ import annotations

import asyncio
import hmac
import http
import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, TypeVar

from aiohttp import web as aioweb
from aiokafka.errors import KafkaError
from faust.web.exceptions import NotAuthenticated, ServiceUnavailable, WebError

from schemas.deadletter import DeadLetter
from schemas.errors import InvalidEvent
from schemas.event import Event, now_utc
from streams import topics
from streams.app import settings

log = logging.getLogger(__name__)

E = TypeVar("E", bound=Event)

_PUBLISH_TIMEOUT = 15.0


class PayloadTooLarge(WebError):
    """The request body is larger than FLEETSTREAM_MAX_BODY_BYTES."""

    code = http.HTTPStatus.REQUEST_ENTITY_TOO_LARGE


class UnprocessableEntity(WebError):
    """The body is not a valid event; `errors` lists each bad field."""

    code = http.HTTPStatus.UNPROCESSABLE_ENTITY


def latest_allowed() -> datetime:
    """The latest event time an ingest endpoint accepts: now plus the allowed clock skew."""
    return now_utc() + timedelta(seconds=settings.max_clock_skew_seconds)


def check_token(request: aioweb.Request) -> None:
    """Raise 401 unless the request carries the configured bearer token (if one is set)."""
    expected = settings.ingest_token
    if not expected:
        return
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip(), expected):
        raise NotAuthenticated("missing or invalid bearer token (Authorization: Bearer <token>)")


async def read_body(request: aioweb.Request) -> bytes:
    """The request body, refusing (413) anything over the limit without reading it all."""
    limit = settings.max_body_bytes
    if request.content_length is not None and request.content_length > limit:
        raise PayloadTooLarge(f"body of {request.content_length} bytes exceeds {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.content.iter_chunked(65536):
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"body exceeds {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


async def publish(topic: Any, key: str, value: bytes) -> None:
    """Send one record and wait for Kafka's acknowledgement (503 if it does not come)."""
    try:
        fut = await topic.send(key=key.encode(), value=value)
        await asyncio.wait_for(asyncio.shield(fut), _PUBLISH_TIMEOUT)
    except (TimeoutError, OSError, KafkaError) as exc:
        raise ServiceUnavailable(f"event not acknowledged by Kafka: {exc}") from exc


async def accept(
    request: aioweb.Request,
    parse: Callable[[bytes], E],
    topic: Any,
    key_of: Callable[[E], str],
) -> E:
    """Authenticate, read, validate and publish one event; returns it once Kafka has it."""
    check_token(request)
    body = await read_body(request)
    try:
        event = parse(body)
    except InvalidEvent as exc:
        letter = DeadLetter.of(body, exc.reason, exc.errors, endpoint=request.path)
        await publish(topics.deadletter, request.path, letter.encode())
        log.info("ingest.rejected endpoint=%s reason=%r", request.path, exc.reason)
        raise UnprocessableEntity(
            "invalid payload", errors=[e.as_dict() for e in exc.errors]) from None
    await publish(topic, key_of(event), event.encode())
    return event
