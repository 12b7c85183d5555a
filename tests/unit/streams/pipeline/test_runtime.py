"""The runtime's steps with in-memory sinks: order, dead letters, bisection, degraded health."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from streams.pipeline.health import SinkHealth
from streams.pipeline.policy import Backoff
from streams.pipeline.runtime import Pipeline
from tests.unit.streams.pipeline.memory import (
    T0,
    Counters,
    Journal,
    MemoryOutbound,
    MemorySink,
    MemoryStore,
    Toy,
    record,
)

FAST = Backoff(initial=0.001, maximum=0.002)


class Rig:
    """A toy pipeline with two sinks (`db` then `tsdb`) and its stand-ins."""

    def __init__(self) -> None:
        self.journal = Journal()
        self.db = MemorySink("db", self.journal)
        self.tsdb = MemorySink("tsdb", self.journal)
        self.store = MemoryStore(self.journal)
        self.outbound = MemoryOutbound(self.journal)
        self.health = SinkHealth()
        self.retries: list[tuple[str, int]] = []
        self.healing: asyncio.Task[None] | None = None
        self.pipeline: Pipeline[Toy] = Pipeline(
            Counters(), self.store, [self.db, self.tsdb], self.outbound, self.health,
            max_clock_skew_s=300, backoff=FAST,
            on_retry=lambda sink, reason, n: self.retries.append((sink, n)))


async def test_steps_run_in_order_sinks_then_alerts_then_dead_letters_then_states() -> None:
    rig = Rig()
    await rig.pipeline.process([record("a", 11, offset=0), record("b", "x", offset=1)], T0)
    assert rig.journal.kinds() == ["write:db", "write:tsdb", "alerts", "dead_letters", "put"]
    assert rig.store.data["a"]["total"] == 11
    assert [a.kind for a in rig.outbound.alerts_sent] == ["toy.big"]


async def test_rows_come_from_the_state_after_the_batch_and_every_event_is_emitted() -> None:
    rig = Rig()
    await rig.pipeline.process([record("a", 1, offset=0), record("a", 2, offset=1)], T0)
    await rig.pipeline.process([record("a", 3, offset=2)], T0)
    assert rig.db.written == [("a", 3), ("a", 6)]
    assert rig.tsdb.written == ["a=1", "a=2", "a=3"]


async def test_invalid_and_future_records_are_dead_letters_and_the_rest_goes_on() -> None:
    rig = Rig()
    future = T0 + 301 * 1_000_000
    report = await rig.pipeline.process([
        record("a", 1, offset=0, raw=b"\xff not json"),
        record("a", "two", offset=1),
        record("a", 5, offset=2, ts_us=future),
        record("a", 4, offset=3, ts_us=T0 + 299 * 1_000_000),
    ], T0)
    assert [(r.record.offset, r.kind) for r in rig.outbound.letters] == [
        (0, "invalid"), (1, "invalid"), (2, "invalid")]
    assert "future" in rig.outbound.letters[2].reason
    assert rig.store.data["a"]["total"] == 4
    assert report.rejected["invalid"] == 3


async def test_a_refused_record_is_found_by_bisection_and_only_its_key_is_dead_lettered() -> None:
    rig = Rig()
    rig.db.refuse = lambda row: row[0] == "bad"
    records = [record(key, 1, offset=i) for i, key in enumerate("abcdefg")]
    records.insert(3, record("bad", 20, offset=99))
    await rig.pipeline.process(records, T0)
    assert sorted(row[0] for row in rig.db.written) == list("abcdefg")
    # The later sink never gets the refused key; its state and alert are dropped.
    assert "bad=20" not in rig.tsdb.written
    assert "bad" not in rig.store.data
    assert rig.outbound.alerts_sent == []
    [letter] = rig.outbound.letters
    assert letter.record.offset == 99 and letter.kind == "rejected"
    assert letter.reason.startswith("db rejected: db refuses")


async def test_a_sink_that_is_down_is_retried_reported_degraded_and_then_recovered() -> None:
    rig = Rig()
    rig.tsdb.down_for = 3
    seen: list[bool] = []
    original = rig.tsdb.write

    async def watching(records: list[object]) -> None:
        seen.append(rig.health.is_degraded({"tsdb"}))
        await original(records)

    rig.tsdb.write = watching  # type: ignore[method-assign,assignment]
    await rig.pipeline.process([record("a", 1, offset=0)], T0)
    assert rig.tsdb.written == ["a=1"]
    assert rig.retries == [("tsdb", 1), ("tsdb", 2), ("tsdb", 3)]
    assert seen == [False, True, True, True]
    assert rig.health.degraded() == []
    assert rig.outbound.letters == []


async def test_an_unclassified_error_is_retried_a_bounded_number_of_times_then_rejected() -> None:
    rig = Rig()
    rig.db.unknown_errors = 100
    await rig.pipeline.process([record("a", 1, offset=0)], T0)
    assert rig.db.attempts == 3
    [letter] = rig.outbound.letters
    assert "unclassified error: KeyError" in letter.reason
    assert rig.store.data == {}


async def test_a_failing_fold_dead_letters_its_key_only() -> None:
    rig = Rig()
    await rig.pipeline.process([record("a", 666, offset=0), record("b", 2, offset=1)], T0)
    assert [(r.record.offset, r.kind) for r in rig.outbound.letters] == [(0, "internal")]
    assert "ZeroDivisionError" in rig.outbound.letters[0].reason
    assert rig.store.data["b"]["total"] == 2


async def test_a_batch_that_fails_before_its_states_are_stored_can_be_processed_again() -> None:
    rig = Rig()
    rig.outbound.fail_next = 1
    batch = [record("a", 11, offset=0)]
    with pytest.raises(ConnectionError):
        await rig.pipeline.process(batch, T0)
    assert rig.store.data == {}
    await rig.pipeline.process(batch, T0)
    # The same rows again (idempotent sinks), the alert once it could be sent, the state once.
    assert rig.db.written == [("a", 11), ("a", 11)]
    assert [a.kind for a in rig.outbound.alerts_sent] == ["toy.big"]
    assert rig.store.data["a"]["total"] == 11


def rebalance_while_writing(rig: Rig) -> None:
    """The next write to `db` hangs through a rebalance (a network partition healed)."""
    def rebalance() -> None:
        rig.store.current += 1
        rig.db.while_writing = lambda: None
    rig.db.while_writing = rebalance


async def test_a_batch_reassigned_while_its_rows_were_written_sends_and_stores_nothing() -> None:
    rig = Rig()
    rebalance_while_writing(rig)
    report = await rig.pipeline.process([record("a", 11, offset=0), record("b", "x", offset=1)],
                                        T0)
    # The rows are written (guarded sinks); no alert, no dead letter, no state: the new owner
    # redoes them from the records, which come again from the committed offset.
    assert rig.journal.kinds() == ["write:db", "write:tsdb"]
    assert rig.store.data == {} and report.abandoned == 1 and report.stored == 0
    assert rig.pipeline.progress.offsets == {}
    await rig.pipeline.process([record("a", 11, offset=0), record("b", "x", offset=1)], T0)
    assert [a.kind for a in rig.outbound.alerts_sent] == ["toy.big"]
    assert rig.store.data["a"]["total"] == 11 and len(rig.outbound.letters) == 1


async def test_a_sweep_reassigned_while_its_rows_were_written_raises_no_alert() -> None:
    """The partitioned worker's sweep (issue 12, tests/faults/test_network_partition.py): it
    swept keys whose reports went to another worker while it was cut off, its write hung until
    the heal, and it announced 53 false backup.stale alerts after it had rejoined."""
    rig = Rig()
    await rig.pipeline.process([record("a", -1, offset=0)], T0)
    rebalance_while_writing(rig)
    report = await rig.pipeline.sweep(T0)
    assert report.abandoned == 1 and report.alerts == 0 and rig.outbound.alerts_sent == []
    assert rig.store.data["a"]["total"] == -1  # not overwritten by the swept state


async def test_a_worker_out_of_contact_with_its_group_sweeps_nothing() -> None:
    """Cut off, its partitions may be another worker's: their silence is not the fleet's."""
    rig = Rig()
    await rig.pipeline.process([record("a", -1, offset=0)], T0)
    rig.store.contact = False
    assert (await rig.pipeline.sweep(T0)).changed_keys == []
    rig.store.contact = True
    assert (await rig.pipeline.sweep(T0)).alerts == 1


def cut_while_writing(rig: Rig, rejoined: bool) -> None:
    """The next write to `db` hangs through a network partition; after it the group answers:
    it rebalanced (`rejoined`, the member had been evicted) or it still knows the member."""
    def cut() -> None:
        rig.store.contact = False
        rig.db.while_writing = lambda: None

        async def heal() -> None:
            await asyncio.sleep(0.3)
            if rejoined:
                rig.store.current += 1
            rig.store.contact = True
        rig.healing = asyncio.get_running_loop().create_task(heal())
    rig.db.while_writing = cut


@pytest.mark.parametrize("rejoined", [True, False])
async def test_a_write_that_hung_out_of_contact_waits_for_the_group_to_tell(rejoined: bool) -> None:
    """The partitioned worker of tests/faults/test_network_partition.py: its batch and sweep
    writes hung until the heal; they must not announce or store before the group tells whether
    they are still its own (stored after the rejoin, they overwrote the new owner's states)."""
    rig = Rig()
    await rig.pipeline.process([record("a", -1, offset=0)], T0)
    cut_while_writing(rig, rejoined)
    report = await rig.pipeline.sweep(T0)
    assert report.abandoned == (1 if rejoined else 0)
    assert len(rig.outbound.alerts_sent) == (0 if rejoined else 1)
    assert rig.store.data["a"]["total"] == (-1 if rejoined else 0)
    cut_while_writing(rig, rejoined)
    report = await rig.pipeline.process([record("b", 11, offset=1)], T0)
    assert report.abandoned == (1 if rejoined else 0)
    assert ("b" in rig.store.data) is not rejoined


async def test_the_sweep_skips_partitions_catching_up_and_pipelines_with_a_degraded_sink() -> None:
    rig = Rig()
    await rig.pipeline.process([record("a", -1, offset=0, partition=0),
                                record("b", -1, offset=0, partition=1),
                                record("z", 0, offset=1, partition=1)], T0)
    rig.health.failed("db", "down")
    assert (await rig.pipeline.sweep(T0)).changed_keys == []
    rig.health.recovered("db")
    report = await rig.pipeline.sweep(T0, {1: None})
    assert report.changed_keys == ["a"] and report.alerts == 1
    assert rig.store.data["b"]["total"] == -1
    report = await rig.pipeline.sweep(T0)
    assert sorted(report.changed_keys) == ["a", "b", "z"]
    assert report.deleted == 2  # a (now 0) and z
    assert set(rig.store.data) == {"b"}


async def test_a_partition_with_records_waiting_is_swept_at_its_own_clock() -> None:
    """`clocks` (`agent.sweep_clocks`): a partition behind is judged at the newest event
    processed there, the others at now; the domain's sweep gets that time."""
    rig = Rig()
    await rig.pipeline.process([record("a", -1, offset=0, partition=0),
                                record("b", -1, offset=0, partition=1)], T0)
    report = await rig.pipeline.sweep(T0 + 10_000_000, {1: T0 + 3_000_000})
    assert sorted(report.changed_keys) == ["a", "b"]
    at = {alert.subject: alert.at for alert in rig.outbound.alerts_sent}
    assert at["a"] - at["b"] == timedelta(seconds=7)


async def test_progress_tracks_the_newest_event_time_and_offset_per_partition() -> None:
    rig = Rig()
    await rig.pipeline.process([record("a", 1, offset=5, ts_us=T0 + 7),
                                record("b", "bad", offset=6)], T0)
    assert rig.pipeline.progress.offsets == {0: 6}
    assert rig.pipeline.progress.newest_us == {0: T0 + 7}
