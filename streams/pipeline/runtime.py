"""The pipeline runtime: the one write path every domain's events take, step by step.

Why it exists: decoding, folding, projecting, writing sinks, announcing alerts, dead-lettering
and storing state must happen in one order for every domain, or a crash, a bad event or a sink
outage loses or duplicates something. `Pipeline.process` is that order, for one batch of records:

    1. Decode every record; a record that is not a valid event (or lies further in the future than
       the allowed clock skew) becomes a dead letter with the reason.
    2. Fold each key's events into its state, from the state in the table (pure; not stored yet).
    3. Project each key: its current state and step -> the records of every sink (pure).
    4. Write every sink, in order: transient failures retry with backoff (the sink is reported
       degraded), refused records are found by bisection and their keys rejected: the events
       behind them become dead letters with the sink's reason, their state change and alerts are
       dropped, and the later sinks do not get them.
    5. Announce the alerts of the keys that were written, and wait for Kafka's acknowledgement.
    6. Send the dead letters, and wait for Kafka's acknowledgement.
    7. Store the new states (and tombstones) in the table, with the keys' window rollups, and
       wait for Kafka's acknowledgement of their changelog records.
    8. Return: only now may the caller acknowledge the batch's offsets.

A crash anywhere before step 8 re-delivers the batch against the same stored states, so steps 2-4
recompute the same records (the sinks are idempotent: natural keys, monotonic guards) and step 5
re-sends the same alerts (deterministic ids). A failure in one key's fold or projection (a bug, or
an input validation missed) dead-letters that key's events and the rest of the batch goes on:
nothing but cancellation leaves `process`.

If the assignment the batch was folded in no longer holds after step 4 (a rebalance while a write
hung through a network partition: its states may have been restored anew, or be another worker's),
steps 5-7 are dropped; out of contact with the consumer group, the commit first waits until the
group tells (`Store.in_contact`).

`Pipeline.sweep` is the time-driven twin (staleness, inactivity, retention): steps 3-7 for the
states the domain's `sweep` changes, on partitions this worker owns and has caught up on (one with
records waiting is judged at the newest event processed there, not the wall clock), and never
while one of the pipeline's sinks is degraded (a silence may then be ours, not the fleet's) or the
worker is out of contact with its consumer group (its partitions may be another's). It
looks only at the states whose time has come (`streams.pipeline.due`), not the whole table.
One lock per pipeline serialises batches and sweeps: each reads the states the other stored.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Generic, Protocol, TypeVar

from schemas.alert import Alert
from schemas.errors import FieldError, InvalidEvent
from streams.domain.windows import WindowUpdate
from streams.pipeline.domain import Domain, Projected, Record, State, Step
from streams.pipeline.due import DueIndex
from streams.pipeline.health import SinkHealth
from streams.pipeline.policy import (
    SINK_RETRY,
    Backoff,
    Group,
    Observer,
    ignore_retries,
    write_groups,
)
from streams.pipeline.sink import Sink

log = logging.getLogger(__name__)

CONTACT_POLL_SECONDS = 0.2
"""How often a commit out of contact with the consumer group looks whether it is back."""

E = TypeVar("E")

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_INDEX_CHUNK = 10_000


@dataclass(frozen=True, slots=True)
class Rejection:
    """A record that will not be processed: why, and (for invalid input) each bad field."""

    record: Record
    kind: str
    reason: str
    errors: Sequence[FieldError] = ()


class Store(Protocol):
    """The table of states (a changelog-backed Faust table, or a dict in unit tests)."""

    def get(self, key: str) -> State | None: ...

    def put(self, key: str, value: State, partition: int) -> None: ...

    def delete(self, key: str, partition: int) -> None: ...

    def put_windows(self, key: str, windows: WindowUpdate, partition: int) -> None: ...

    async def flush(self) -> None:
        """Return once everything `put`, `delete` and `put_windows` wrote so far is durable
        (the changelog records acknowledged); a failure leaves them to the next flush."""
        ...

    def owned_items(self) -> Iterable[tuple[str, State]]: ...

    def partition_of(self, state: State) -> int: ...

    def generation(self) -> int:
        """Changes whenever the partitions this worker owns may have (a rebalance)."""
        ...

    def in_contact(self) -> bool:
        """False while this worker has not heard from its consumer group for long enough that
        its partitions may be another worker's (a network partition)."""
        ...


class Outbound(Protocol):
    """Where alerts and dead letters go; each call returns once Kafka acknowledged every one."""

    async def alerts(self, alerts: Sequence[Alert]) -> None: ...

    async def dead_letters(self, rejections: Sequence[Rejection]) -> None: ...


@dataclass
class PartitionProgress:
    """Per partition: the last offset processed and the newest event time seen on it (µs)."""

    offsets: dict[int, int] = field(default_factory=dict)
    newest_us: dict[int, int] = field(default_factory=dict)

    def note(self, partition: int, offset: int, event_us: int | None) -> None:
        self.offsets[partition] = max(self.offsets.get(partition, -1), offset)
        if event_us is not None:
            self.newest_us[partition] = max(self.newest_us.get(partition, 0), event_us)

    def forget(self, keep: Collection[int]) -> None:
        for partition in set(self.offsets) - set(keep):
            self.offsets.pop(partition, None)
            self.newest_us.pop(partition, None)


@dataclass
class BatchReport:
    """What one `process` or `sweep` did, for metrics, logs and tests."""

    consumed: int = 0
    keys: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    alerts: int = 0
    stored: int = 0
    deleted: int = 0
    late_events: int = 0
    fold_seconds: float = 0.0
    sink_seconds: dict[str, float] = field(default_factory=dict)
    changed_keys: list[str] = field(default_factory=list)
    abandoned: int = 0
    """Keys written but not announced nor stored: the worker was reassigned while it wrote."""


@dataclass
class _Pending(Generic[E]):
    """A key's work in progress through steps 2-7."""

    partition: int
    events: list[E] = field(default_factory=list)
    records: list[Record] = field(default_factory=list)
    newest_us: int = 0
    step: Step | None = None
    projected: Projected | None = None


class Pipeline(Generic[E]):
    """One domain's write path: `process` for batches, `sweep` for timers (see the module)."""

    def __init__(
        self,
        domain: Domain[E],
        store: Store,
        sinks: Sequence[Sink],
        outbound: Outbound,
        health: SinkHealth,
        *,
        max_clock_skew_s: float,
        backoff: Backoff = SINK_RETRY,
        on_retry: Observer = ignore_retries,
    ) -> None:
        self.domain = domain
        self.store = store
        self.sinks = list(sinks)
        self.outbound = outbound
        self.health = health
        self.max_clock_skew_us = round(max_clock_skew_s * 1_000_000)
        self.backoff = backoff
        self.on_retry = on_retry
        self.progress = PartitionProgress()
        self.lock = asyncio.Lock()
        self.due = DueIndex()

    @property
    def sink_names(self) -> frozenset[str]:
        return frozenset(sink.name for sink in self.sinks)

    async def process(self, records: Sequence[Record], now_us: int) -> BatchReport:
        """Steps 1-7 for one batch (see the module docstring); returns what was done."""
        report = BatchReport(consumed=len(records))
        rejections: list[Rejection] = []
        # Step 1: decode (outside the lock: it reads no state).
        pending: dict[str, _Pending[E]] = {}
        latest_us = now_us + self.max_clock_skew_us
        latest = _EPOCH + timedelta(microseconds=latest_us)
        for record in records:
            decoded = self._decode(record, latest, latest_us, rejections)
            if decoded is None:
                continue
            event, key, event_us = decoded
            work = pending.get(key)
            if work is None:
                work = pending[key] = _Pending(record.partition)
            # A key's partition is where its latest record came from (a producer that changed
            # partitioner moves the key; the table follows it).
            work.partition = record.partition
            work.events.append(event)
            work.records.append(record)
            work.newest_us = max(work.newest_us, event_us)
        async with self.lock:
            generation = self.store.generation()
            began = time.monotonic()
            # Step 2: fold, and step 3: project, each key on its own.
            for key, work in list(pending.items()):
                if not self._fold_and_project(key, work, now_us, rejections):
                    del pending[key]
            report.fold_seconds = time.monotonic() - began
            if not await self._commit(pending, rejections, report, generation):
                return report
        # A partition's records come in offset order: its last one has the highest offset.
        newest: dict[int, int] = {}
        for work in pending.values():
            newest[work.partition] = max(newest.get(work.partition, 0), work.newest_us)
        for partition, offset in {r.partition: r.offset for r in records}.items():
            self.progress.note(partition, offset, newest.get(partition))
        return report

    async def sweep(self, now_us: int,
                    clocks: Mapping[int, int | None] | None = None) -> BatchReport:
        """Steps 3-7 for the states the domain's `sweep` changes (owned, caught-up partitions).

        `clocks`: per partition, the time its states are judged at when it is not `now_us`
        (records wait on it: the newest event processed there), or None: not swept (this
        worker is catching up on it). Only the states whose time has come are looked at
        (`DueIndex`); the index is rebuilt from the table when the assignment changed. A state
        that is skipped, not due yet by its partition's clock, or that a sink refused is looked
        at again at the next sweep.
        """
        clocks = clocks or {}
        report = BatchReport()
        if self.health.is_degraded(self.sink_names) or not self.store.in_contact():
            return report
        async with self.lock:
            await self._index_if_reassigned()
            generation = self.store.generation()
            pending: dict[str, _Pending[E]] = {}
            rejections: list[Rejection] = []
            for key in self.due.pop_due(now_us):
                state = self.store.get(key)
                if state is None:
                    continue
                partition = self.store.partition_of(state)
                clock = clocks.get(partition, now_us)
                if clock is None:
                    self.due.schedule(key, now_us)
                    continue
                try:
                    step = self.domain.sweep(key, state, clock)
                except Exception:
                    log.exception("pipeline.sweep_failed pipeline=%s key=%r", self.domain.name,
                                  key)
                    self.due.schedule(key, now_us)
                    continue
                if step is None:
                    due = self.domain.sweep_due_us(state)
                    self.due.schedule(key, None if due is None else max(due, now_us))
                    continue
                # Until step 7 stores the new state (and its due time), the next sweep retries.
                self.due.schedule(key, now_us)
                work = _Pending[E](partition, step=step)
                if self._project(key, work, rejections):
                    pending[key] = work
            await self._commit(pending, rejections, report, generation)
        return report

    async def _still_assigned(self, generation: int) -> bool:
        """Whether assignment `generation` still holds. Out of contact with the consumer group
        (the broker may have given this worker's partitions away), wait until the group
        answers: a heartbeat confirms the member (it holds) or a rejoin changes the generation
        (it does not). Bounded by the group, like step 5's wait for Kafka."""
        # Polled: contact is lost by the passing of time (no answer), which nothing signals.
        while self.store.generation() == generation and not self.store.in_contact():  # noqa: ASYNC110
            await asyncio.sleep(CONTACT_POLL_SECONDS)
        return self.store.generation() == generation

    async def _index_if_reassigned(self) -> None:
        """Rebuild the due index from the owned states when the assignment changed."""
        generation = self.store.generation()
        if generation == self.due.generation:
            return
        self.due.clear()
        for count, (key, state) in enumerate(self.store.owned_items(), 1):
            self.due.schedule(key, self.domain.sweep_due_us(state))
            if count % _INDEX_CHUNK == 0:
                await asyncio.sleep(0)  # a million states: let the views answer meanwhile
        self.due.generation = generation

    def _decode(self, record: Record, latest: datetime, latest_us: int,
                rejections: list[Rejection]) -> tuple[E, str, int] | None:
        """(event, key, event time µs), or None with the record's rejection noted; `latest` is
        `latest_us` as a time."""
        try:
            event = self.domain.decode(record, latest)
            event_us = self.domain.event_us(event)
            ahead_us = event_us - latest_us
            if ahead_us > 0:
                raise InvalidEvent.single(
                    "ts", f"lies {(ahead_us + self.max_clock_skew_us) / 1e6:.0f} s in the "
                    f"future (more than the {self.max_clock_skew_us / 1e6:.0f} s clock skew "
                    "allowed)")
            key = self.domain.key(event)
        except InvalidEvent as exc:
            rejections.append(Rejection(record, "invalid", exc.reason, exc.errors))
            return None
        except Exception as exc:
            # Not a validation error: a decoder bug or an input it did not foresee. Still this
            # record's problem only.
            rejections.append(Rejection(record, "invalid",
                                        f"undecodable: {type(exc).__name__}: {exc}"))
            return None
        return event, key, event_us

    def _fold_and_project(self, key: str, work: _Pending[E], now_us: int,
                          rejections: list[Rejection]) -> bool:
        try:
            work.step = self.domain.fold(key, self.store.get(key), work.events, now_us)
        except Exception as exc:
            log.exception("pipeline.fold_failed pipeline=%s key=%r", self.domain.name, key)
            self._reject(work, "internal", f"fold failed: {type(exc).__name__}: {exc}",
                         rejections)
            return False
        return self._project(key, work, rejections)

    def _project(self, key: str, work: _Pending[E], rejections: list[Rejection]) -> bool:
        assert work.step is not None
        state = work.step.state if work.step.state is not None else self.store.get(key)
        try:
            work.projected = self.domain.project(key, state, work.step)
        except ValueError as exc:
            # A value no sink can represent (e.g. a point line protocol cannot carry).
            self._reject(work, "invalid", f"unwritable: {type(exc).__name__}: {exc}", rejections)
            return False
        except Exception as exc:
            log.exception("pipeline.project_failed pipeline=%s key=%r", self.domain.name, key)
            self._reject(work, "internal", f"projection failed: {type(exc).__name__}: {exc}",
                         rejections)
            return False
        return True

    @staticmethod
    def _reject(work: _Pending[E], kind: str, reason: str, rejections: list[Rejection]) -> None:
        rejections.extend(Rejection(record, kind, reason) for record in work.records)

    async def _commit(self, pending: dict[str, _Pending[E]], rejections: list[Rejection],
                      report: BatchReport, generation: int) -> bool:
        """Steps 4-7 for the keys still pending, folded or swept in assignment `generation`;
        False if that assignment no longer held after step 4, which is then all that was done."""
        # Step 4: write the sinks, in order; a refused key leaves the batch.
        for sink in self.sinks:
            groups = [Group(key, (work.projected or {}).get(sink.name, ()))
                      for key, work in pending.items()]
            written = await write_groups(sink, groups, self.health, backoff=self.backoff,
                                         on_retry=self.on_retry)
            report.sink_seconds[sink.name] = written.seconds
            for key, reason in written.rejected.items():
                work = pending.pop(key)
                if not work.records:
                    log.error("pipeline.sweep_rejected pipeline=%s sink=%s key=%r reason=%s",
                              self.domain.name, sink.name, key, reason)
                self._reject(work, "rejected", f"{sink.name} rejected: {reason}", rejections)
        if (pending or rejections) and not await self._still_assigned(generation):
            # A rebalance while the sinks were written (a write that hung through a network
            # partition): the states this started from may have been restored anew since, or be
            # another worker's now. The rows are guarded (`last_seq`, primary keys); the alerts,
            # dead letters and states are not: drop them. The keys' owner redoes them from its
            # own states, and the records come again from the committed offsets.
            log.warning("pipeline.reassigned_while_writing pipeline=%s keys=%d alerts_dropped=%d",
                        self.domain.name, len(pending),
                        sum(len(w.step.alerts) for w in pending.values() if w.step))
            report.abandoned = len(pending)
            return False
        # Step 5: announce the alerts of what was written.
        alerts = [alert for work in pending.values() if work.step
                  for alert in work.step.alerts]
        if alerts:
            await self.outbound.alerts(alerts)
        # Step 6: dead letters.
        if rejections:
            await self.outbound.dead_letters(rejections)
            for rejection in rejections:
                report.rejected[rejection.kind] += 1
                log.warning("deadletter pipeline=%s topic=%s partition=%d offset=%d kind=%s "
                            "reason=%r", self.domain.name, rejection.record.topic,
                            rejection.record.partition, rejection.record.offset,
                            rejection.kind, rejection.reason[:300])
        # Step 7: store the new states.
        for key, work in pending.items():
            step = work.step
            if step is None:
                continue
            if step.windows is not None and not step.delete:
                self.store.put_windows(key, step.windows, work.partition)
                report.late_events += step.windows.late
            if step.delete:
                self.store.delete(key, work.partition)
                self.due.forget(key)
                report.deleted += 1
            elif step.state is not None:
                self.store.put(key, step.state, work.partition)
                self.due.schedule(key, self.domain.sweep_due_us(step.state))
                report.stored += 1
            if step.delete or step.state is not None:
                report.changed_keys.append(key)
        await self.store.flush()
        report.keys = len(pending)
        report.alerts = len(alerts)
        return True
