"""In-memory stand-ins for the runtime's sinks, table and Kafka outbound, and a toy domain.

Why it exists: the runtime's ordering, bisection and degraded health are unit-tested without
servers; every stand-in records what it was asked into one shared journal, so a test can check
the order of the steps. End-to-end tests run the same runtime against the real stack.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from schemas.alert import Alert
from schemas.errors import InvalidEvent
from streams.pipeline.domain import Domain, Projected, Record, State, Step
from streams.pipeline.runtime import Rejection
from streams.pipeline.sink import Sink, SinkRejected, SinkUnavailable
from streams.pipeline.stores import DictStore

T0 = 1_700_000_000_000_000


@dataclass(frozen=True)
class Toy:
    """A toy event: add `value` to the counter `key`, at event time `ts_us`."""

    key: str
    value: int
    ts_us: int


class Counters(Domain[Toy]):
    """Sums values per key; alerts once when a sum first exceeds 10; sweeps delete keys at 0."""

    name = "toy"

    def decode(self, record: Record, latest: datetime) -> Toy:
        body = json.loads(record.value or b"")
        if not isinstance(body, dict) or not isinstance(body.get("value"), int):
            raise InvalidEvent.single("value", "must be an integer")
        return Toy(str(body["key"]), body["value"], int(body.get("ts_us", T0)))

    def key(self, event: Toy) -> str:
        return event.key

    def event_us(self, event: Toy) -> int:
        return event.ts_us

    def fold(self, key: str, before: State | None, events: Sequence[Toy], now_us: int) -> Step:
        if any(event.value == 666 for event in events):
            raise ZeroDivisionError("a bug in the fold")
        total = (before or {}).get("total", 0) + sum(event.value for event in events)
        alerts = []
        if total > 10 >= (before or {}).get("total", 0):
            alerts.append(Alert.transition("toy.big", key, "raised", _at(events[-1].ts_us)))
        return Step({"total": total}, alerts, emitted=events)

    def project(self, key: str, state: State | None, step: Step) -> Projected:
        total = None if state is None else state["total"]
        return {"db": [(key, total)], "tsdb": [f"{key}={e.value}" for e in step.emitted]}

    def sweep(self, key: str, state: State, now_us: int) -> Step | None:
        if state["total"] == 0:
            return Step(delete=True)
        if state["total"] < 0:
            return Step({"total": 0}, [Alert.transition("toy.negative", key, "raised",
                                                        _at(now_us))])
        return None


def _at(us: int) -> datetime:
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=us)


@dataclass
class Journal:
    """Every call the stand-ins received, in order: (what, detail)."""

    entries: list[tuple[str, Any]] = field(default_factory=list)

    def kinds(self) -> list[str]:
        return [kind for kind, _ in self.entries]


class MemorySink(Sink):
    """Keeps written records; can be told to be down for N writes or to refuse some records,
    or to run `while_writing` during a write (a rebalance while the write hung)."""

    def __init__(self, name: str, journal: Journal) -> None:
        self.name = name
        self.journal = journal
        self.written: list[Any] = []
        self.down_for = 0
        self.unknown_errors = 0
        self.refuse: Callable[[Any], bool] = lambda record: False
        self.attempts = 0
        self.while_writing: Callable[[], None] = lambda: None

    async def write(self, records: Sequence[Any]) -> None:
        self.attempts += 1
        if self.down_for:
            self.down_for -= 1
            raise SinkUnavailable(f"{self.name} is down")
        if self.unknown_errors:
            self.unknown_errors -= 1
            raise KeyError("a client error nobody classified")
        refused = [record for record in records if self.refuse(record)]
        if refused:
            raise SinkRejected(f"{self.name} refuses {refused[0]!r}")
        self.while_writing()
        self.written.extend(records)
        self.journal.entries.append((f"write:{self.name}", list(records)))


class Generations(DictStore):
    """A dict store whose assignment generation a test can move, as a rebalance does, and
    whose contact with the group it can lose, as a network partition does."""

    def __init__(self) -> None:
        super().__init__()
        self.current = 0
        self.contact = True

    def generation(self) -> int:
        return self.current

    def in_contact(self) -> bool:
        return self.contact


class MemoryStore(Generations):
    """The dict store, writing what it is asked into the journal."""

    def __init__(self, journal: Journal) -> None:
        super().__init__()
        self.journal = journal

    def put(self, key: str, value: State, partition: int) -> None:
        super().put(key, value, partition)
        self.journal.entries.append(("put", key))

    def delete(self, key: str, partition: int) -> None:
        super().delete(key, partition)
        self.journal.entries.append(("delete", key))


class MemoryOutbound:
    """Collects alerts and dead letters; can fail its next N calls (Kafka unavailable)."""

    def __init__(self, journal: Journal) -> None:
        self.journal = journal
        self.alerts_sent: list[Alert] = []
        self.letters: list[Rejection] = []
        self.fail_next = 0

    async def alerts(self, alerts: Sequence[Alert]) -> None:
        if self.fail_next:
            self.fail_next -= 1
            raise ConnectionError("Kafka is unavailable")
        self.alerts_sent.extend(alerts)
        self.journal.entries.append(("alerts", [a.kind for a in alerts]))

    async def dead_letters(self, rejections: Sequence[Rejection]) -> None:
        self.letters.extend(rejections)
        self.journal.entries.append(("dead_letters", [r.kind for r in rejections]))


def record(key: str, value: Any, *, offset: int, partition: int = 0, ts_us: int = T0,
           raw: bytes | None = None) -> Record:
    body = raw if raw is not None else json.dumps(
        {"key": key, "value": value, "ts_us": ts_us}).encode()
    return Record("toy", partition, offset, key.encode(), body)
