"""How a batch reaches one sink: retries for a sink that is down, bisection for records it refuses.

Why it exists: the rule for sink failures is written once (see `streams.pipeline.sink`):
- `SinkUnavailable` retries the same records with capped exponential backoff and jitter, with
  the sink reported degraded (`streams.pipeline.health`) until a write succeeds. A sink that is
  down holds its pipeline back (backpressure: nothing is acknowledged, nothing is dropped) and
  only its pipeline: every sink of the TSDB has its own pipeline (see `streams.agents.tsdb`).
- `SinkRejected` splits the batch in halves, on key boundaries, until the refused keys are
  found; those come back to the runtime, which dead-letters their events; the rest is written.
- Any other exception is a bug or an unknown client error: retried like a transient one at most
  `UNCLASSIFIED_ATTEMPTS` times, then taken as a rejection, so it can never stall a partition.
What it must not do: decide what an error means (the sink's `classify` does) or drop a record
without returning it as rejected.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from streams.pipeline.health import SinkHealth
from streams.pipeline.sink import Sink, SinkRejected, SinkUnavailable

log = logging.getLogger(__name__)

UNCLASSIFIED_ATTEMPTS = 3


@dataclass(frozen=True, slots=True)
class Group:
    """The records of one key: written together, and rejected together."""

    key: str
    records: Sequence[Any]


@dataclass(frozen=True, slots=True)
class Backoff:
    """Capped exponential backoff with jitter (multiplied by 0.5..1.5)."""

    initial: float = 0.2
    maximum: float = 10.0

    def delay(self, failures: int) -> float:
        base: float = min(self.initial * 2 ** (failures - 1), self.maximum)
        return base * random.uniform(0.5, 1.5)


@dataclass
class WriteReport:
    """What one `write_groups` did: keys refused with the sink's reason, retries, time spent."""

    rejected: dict[str, str] = field(default_factory=dict)
    retries: int = 0
    seconds: float = 0.0


SINK_RETRY = Backoff()

Observer = Callable[[str, str, int], None]
"""Called with (sink, reason, failed attempts so far) on every failed attempt."""


def ignore_retries(sink: str, reason: str, attempts: int) -> None:
    """The default `Observer`: nothing to record."""
    return None


async def write_groups(
    sink: Sink,
    groups: Sequence[Group],
    health: SinkHealth,
    *,
    backoff: Backoff = SINK_RETRY,
    on_retry: Observer = ignore_retries,
) -> WriteReport:
    """Write every group's records to `sink`; the keys it refuses come back in the report."""
    report = WriteReport()
    began = time.monotonic()
    # Halves are written left first, so records keep the batch's order across bisection.
    pending: list[Sequence[Group]] = [[group for group in groups if group.records]]
    while pending:
        part = pending.pop()
        if not part:
            continue
        try:
            report.retries += await _write_retrying(sink, part, health, backoff, on_retry)
        except SinkRejected as exc:
            if len(part) == 1:
                report.rejected[part[0].key] = exc.reason
                log.warning("sink.rejected sink=%s key=%r reason=%s", sink.name, part[0].key,
                            exc.reason)
                continue
            middle = len(part) // 2
            pending.append(part[middle:])
            pending.append(part[:middle])
    report.seconds = time.monotonic() - began
    return report


async def _write_retrying(sink: Sink, part: Sequence[Group], health: SinkHealth,
                          backoff: Backoff, on_retry: Observer) -> int:
    """Write `part` until it succeeds or is rejected; returns the failed attempts."""
    records = [record for group in part for record in group.records]
    failures = unclassified = 0
    while True:
        try:
            await sink.write(records)
        except SinkRejected:
            raise
        except SinkUnavailable as exc:
            reason = exc.reason
        except Exception as exc:
            unclassified += 1
            reason = f"unclassified error: {type(exc).__name__}: {exc}"
            if unclassified >= UNCLASSIFIED_ATTEMPTS:
                raise SinkRejected(reason) from exc
        else:
            if health.recovered(sink.name) is not None:
                log.info("sink.recovered sink=%s failed_attempts=%d", sink.name, failures)
            return failures
        failures += 1
        state = health.failed(sink.name, reason)
        on_retry(sink.name, reason, failures)
        delay = backoff.delay(failures)
        log.warning("sink.retry sink=%s attempt=%d delay=%.2fs degraded_for=%.0fs error=%s",
                    sink.name, failures, delay, time.time() - state.since, reason)
        await asyncio.sleep(delay)
