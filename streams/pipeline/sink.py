"""The sink contract: one `write(records)`, and the two ways a write can fail.

Why it exists: every projection (PostgreSQL rows, TSDB points, derived Kafka topics) is written
through one interface, so the runtime decides once what a failure means:
- `SinkUnavailable`: the server cannot take any write now (connection refused or reset, timeout,
  shutting down, read-only during a failover, serialization failure or deadlock, HTTP 5xx/429).
  The runtime retries the same records with capped backoff and reports the sink `degraded`.
- `SinkRejected`: the server refuses these records and always will (a data error, HTTP 4xx other
  than 429). The runtime bisects the batch to find the offending records, dead-letters the events
  behind them with the sink's reason, and writes the rest.
Each sink classifies its own client's errors into these two in one place (its `classify`); an
error it cannot classify is `SinkUnavailable` for a bounded number of attempts, then a rejection.
What a sink must not do: retry by itself, or swallow an error.
"""

from __future__ import annotations

import contextlib
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from typing import Any


class SinkError(Exception):
    """A write that did not happen; `reason` is safe to log and to put on a dead letter."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class SinkUnavailable(SinkError):
    """Transient: the server cannot take the write now; the same write may succeed later."""


class SinkRejected(SinkError):
    """Permanent: the server refuses these records; retrying them can never succeed."""


class SinkMisconfigured(SinkError):
    """Permanent for this process: the server refuses its credentials or lacks its database.

    Raised only by a sink's start-up `probe` (`streams.startup`), so a worker stops before it
    consumes anything. During a write the same errors are `SinkUnavailable`: an operator fixes
    them while the worker runs, and the held records must still arrive.
    """


class Sink(ABC):
    """A projection target. `write` is idempotent: rewriting the same records is harmless."""

    name: str

    @abstractmethod
    async def write(self, records: Sequence[Any]) -> None:
        """Write all `records` (one transaction/request where the server allows), or raise."""


Classifier = Callable[[BaseException], SinkError | None]
"""A sink's one decision: what its client's exception means (None: it cannot tell)."""


@contextlib.contextmanager
def classified(classify: Classifier) -> Iterator[None]:
    """Re-raise what `classify` can tell as the contract's error; anything else unchanged."""
    try:
        yield
    except Exception as exc:
        known = classify(exc)
        if known is None:
            raise
        raise known from exc
