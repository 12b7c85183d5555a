"""Which sinks are degraded right now, and why: what `/health` and the metrics report.

Why it exists: a sink outage must be visible (an operator sees `degraded` with the sink and the
reason instead of a silent stall), and the sweeps must know about it (a worker whose heartbeat
writes are blocked must not call every compute worker inactive). The write policy marks a sink
degraded on its first transient failure and healthy again on its next success.
"""

from __future__ import annotations

import time
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Degraded:
    """A sink failing since `since` (unix seconds) with `reason`, `retries` attempts so far."""

    sink: str
    reason: str
    since: float
    retries: int


class SinkHealth:
    """Degraded state per sink name, for this worker process."""

    def __init__(self) -> None:
        self._degraded: dict[str, Degraded] = {}

    def failed(self, sink: str, reason: str) -> Degraded:
        before = self._degraded.get(sink)
        now = Degraded(sink, reason, before.since if before else time.time(),
                       (before.retries if before else 0) + 1)
        self._degraded[sink] = now
        return now

    def recovered(self, sink: str) -> Degraded | None:
        return self._degraded.pop(sink, None)

    def degraded(self) -> list[Degraded]:
        return sorted(self._degraded.values(), key=lambda d: d.sink)

    def is_degraded(self, sinks: set[str] | frozenset[str]) -> bool:
        return any(name in self._degraded for name in sinks)


health = SinkHealth()
"""The worker's one registry (a process has one set of sinks)."""
