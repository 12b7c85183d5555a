"""The sink contract and the one retry policy every sink shares.

Why it exists: a projection write is idempotent and either succeeds or raises `SinkUnavailable`.
`write_durably` retries it with capped exponential backoff and jitter until it succeeds, so a
database outage pauses the agent (backpressure) instead of dropping rows or crashing the worker;
the agent acknowledges its batch only after `write_durably` returned (write, then commit).
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)


class SinkUnavailable(RuntimeError):
    """The sink's server cannot take the write now (connection refused, timeout, shutting down)."""


async def write_durably(
    write: Callable[[], Awaitable[None]],
    *,
    what: str,
    initial_delay: float = 0.2,
    max_delay: float = 10.0,
) -> int:
    """Run `write` until it succeeds; returns how many attempts failed before it did."""
    failures = 0
    delay = initial_delay
    while True:
        try:
            await write()
        except SinkUnavailable as exc:
            failures += 1
            log.warning("sink.retry sink=%s attempt=%d delay=%.2fs error=%s",
                        what, failures, delay, exc)
            await asyncio.sleep(delay * random.uniform(0.5, 1.5))
            delay = min(delay * 2, max_delay)
            continue
        if failures:
            log.info("sink.recovered sink=%s failed_attempts=%d", what, failures)
        return failures
