"""What a domain hands the runtime: how to decode, key, fold, sweep and project its events.

Why it exists: the four telemetry domains (and the alert and TSDB pipelines) differ only in pure
functions; everything with I/O and ordering is the runtime's (`streams.pipeline.runtime`). A
domain module implements `Domain` with no I/O, no clock (time comes in as `now_us`) and no Faust,
so it is tested on its own, and the runtime is tested with in-memory sinks.
What a domain must not do: await anything, write anything, or read the wall clock.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, NamedTuple, TypeVar

from schemas.alert import Alert
from streams.domain.windows import WindowUpdate

State = dict[str, Any]
E = TypeVar("E")

Projected = Mapping[str, Sequence[Any]]
"""A key's records per sink name (e.g. {"postgres": [...rows], "points": [...lines]})."""


class Record(NamedTuple):
    """One raw record as consumed: where it came from and its bytes (hostile until decoded).

    A named tuple: one is built for every event consumed, and a frozen dataclass's `__init__`
    cost 1.1 µs against 0.3 µs."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None


@dataclass(frozen=True, slots=True)
class Step:
    """What folding a key's events (or sweeping its state) did.

    `state` is the key's new state (None: unchanged), `alerts` the transitions to announce,
    `emitted` whatever the projection needs besides the state (e.g. each snapshot with the rates
    computed for it), `delete` ends the key's life in the table (retention; rows are kept),
    `windows` the key's event-time window rollups to store with its state (None: no rollups).
    """

    state: State | None = None
    alerts: Sequence[Alert] = ()
    emitted: Sequence[Any] = ()
    delete: bool = False
    windows: WindowUpdate | None = None


UNCHANGED = Step()


class Domain(ABC, Generic[E]):
    """The pure half of a pipeline. Subclasses set `name` and `table` and implement the rest."""

    name: str
    """Short name of the pipeline, used in logs, metrics and dead-letter reasons."""

    @abstractmethod
    def decode(self, record: Record, latest: datetime) -> E:
        """The event in `record`; raises `schemas.errors.InvalidEvent` when it is not one, or
        when it is timed later than `latest` (now plus the allowed clock skew)."""

    @abstractmethod
    def key(self, event: E) -> str:
        """The table key the event belongs to (the topic's message key, as validated)."""

    @abstractmethod
    def event_us(self, event: E) -> int:
        """The event time, epoch microseconds (for clock-skew checks and catch-up tracking)."""

    @abstractmethod
    def fold(self, key: str, before: State | None, events: Sequence[E], now_us: int) -> Step:
        """The key's step after `events` (in arrival order), from the state `before` them."""

    @abstractmethod
    def project(self, key: str, state: State | None, step: Step) -> Projected:
        """The records every sink gets for the key: from its current `state` and the `step`."""

    def sweep(self, key: str, state: State, now_us: int) -> Step | None:
        """A time-driven step (staleness, inactivity, retention), or None: nothing to do."""
        return None

    def sweep_due_us(self, state: State) -> int | None:
        """The earliest time (epoch µs) at which `sweep` may change `state`; None: never, until
        an event changes it. The runtime sweeps a state only once this time has come, so it
        must never be later than the truth (it may be earlier: the state is then swept again at
        each tick until its time has come). The default, 0, sweeps every state at every tick."""
        return 0
