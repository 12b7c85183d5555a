"""State changes that raise alerts: alerts are acknowledged by Kafka before the new state is stored.

Why it exists: the backup-job and worker tables change from two places, their agent (per batch)
and a sweep timer, and both raise alerts on transitions. `AlertingState` is the one order they
share, so that no alert is lost or duplicated across crashes and rebalances:
- every change runs under one lock per table (the agent and the sweep await alerts in between
  reading and storing a state; the lock keeps them from interleaving);
- the alerts are sent and acknowledged BEFORE the new states are stored: a crash in between
  re-sends the same alerts (deterministic ids, deduplicated downstream), never drops them;
- a sweep only looks at the partitions this worker actively owns (`KeyedState.owned_items`);
- projections are written from the table's current states under a second lock (`project`), so
  whichever of the agent and the sweep writes last writes the newest state.
What it must not do: decide which alerts to raise or when (the domain modules do), or know any
projection's rows (the agents do).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Collection, Iterable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from pydantic import BaseModel

from schemas.alert import Alert
from streams import topics
from streams.batches import Decoded
from streams.state import PARTITION_FIELD, KeyedState, State

log = logging.getLogger(__name__)

E = TypeVar("E", bound=BaseModel)

Outcome = tuple[State, Sequence[Alert]] | None
"""What a domain step returns: the new state and the alerts to send, or None when unchanged."""


async def send_alerts(alerts: Sequence[Alert]) -> None:
    """Publish alerts and wait for Kafka's acknowledgement of every one."""
    pending = []
    for alert in alerts:
        log.info("alert kind=%s subject=%s state=%s at=%s", alert.kind, alert.subject,
                 alert.state, alert.at.isoformat())
        pending.append(await topics.alerts.send(key=alert.subject.encode(), value=alert.encode()))
    await asyncio.gather(*pending)


@dataclass(frozen=True, slots=True)
class Change:
    """A key's new state, stored to the changelog partition its events came from."""

    key: str
    partition: int
    state: State


def _no_partitions() -> Collection[int]:
    return ()


class AlertingState:
    """A `KeyedState` changed by an agent and a sweep, each change sending its alerts first."""

    def __init__(self, state: KeyedState) -> None:
        self.state = state
        self._lock = asyncio.Lock()
        self._write_lock = asyncio.Lock()

    async def apply(
        self,
        decoded: Sequence[Decoded[E]],
        key_of: Callable[[E], str],
        step: Callable[[State | None, list[E]], Outcome],
    ) -> list[Change]:
        """Fold a batch into its keys' states, one `step(state, events)` per key (batch order)."""
        grouped: dict[str, list[E]] = {}
        partition_of: dict[str, int] = {}
        for item in decoded:
            key = key_of(item.event)
            grouped.setdefault(key, []).append(item.event)
            partition_of[key] = item.partition
        async with self._lock:
            outcomes = [(key, step(self.state.get(key), events))
                        for key, events in grouped.items()]
            return await self._commit([(key, partition_of[key], outcome)
                                       for key, outcome in outcomes])

    async def sweep(
        self,
        step: Callable[[State], Outcome],
        skip_partitions: Callable[[], Collection[int]] = _no_partitions,
    ) -> list[Change]:
        """`step` every owned entry, except those of `skip_partitions()` (asked under the lock)."""
        async with self._lock:
            skipped = skip_partitions()
            outcomes = [(key, value[PARTITION_FIELD], step(value))
                        for key, value in self.state.owned_items()
                        if value[PARTITION_FIELD] not in skipped]
            changed = [outcome for outcome in outcomes if outcome[2] is not None]
            return await self._commit(changed) if changed else []

    async def project(
        self, keys: Iterable[str], write: Callable[[list[State]], Awaitable[None]]
    ) -> list[State]:
        """`write` the current states of `keys` (those present); returns the states written."""
        async with self._write_lock:
            states = [value for value in map(self.state.get, keys) if value is not None]
            if states:
                await write(states)
        return states

    async def _commit(self, outcomes: Sequence[tuple[str, int, Outcome]]) -> list[Change]:
        changes: list[Change] = []
        alerts: list[Alert] = []
        for key, partition, outcome in outcomes:
            if outcome is not None:
                changes.append(Change(key, partition, outcome[0]))
                alerts.extend(outcome[1])
        await send_alerts(alerts)
        for change in changes:
            self.state.put(change.key, change.state, change.partition)
        return changes
