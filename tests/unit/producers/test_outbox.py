"""The outbox as a producer relies on it: FIFO, restart-safe, bounded, and honest about drops."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import tempfile
import threading
import time
from collections import deque
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from producers.outbox import (
    Outbox,
    OutboxClosedError,
    OutboxError,
    OutboxStats,
    RecordTooLargeError,
    read_stats,
)


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "outbox" / "test.sqlite3"


@pytest.fixture
async def outbox(path: Path) -> AsyncIterator[Outbox]:
    box = Outbox(path, max_events=1000, max_bytes=1_000_000)
    yield box
    await box.close()


async def values(box: Outbox) -> list[bytes]:
    return [record.value for record in await box.peek(10_000)]


async def test_peek_returns_records_oldest_first_with_what_was_put(outbox: Outbox) -> None:
    before = time.time()
    await outbox.put("telemetry.node", b"n1", b"first")
    await outbox.put_many([("telemetry.vm", b"v1", b"second"), ("telemetry.node", b"n2", b"third")])
    await outbox.put("telemetry.backup", b"j1", b"fourth")

    records = await outbox.peek(10)

    assert [(r.topic, r.key, r.value) for r in records] == [
        ("telemetry.node", b"n1", b"first"),
        ("telemetry.vm", b"v1", b"second"),
        ("telemetry.node", b"n2", b"third"),
        ("telemetry.backup", b"j1", b"fourth"),
    ]
    assert [r.id for r in records] == sorted(r.id for r in records)
    assert all(before <= r.enqueued_at <= time.time() for r in records)
    assert [r.value for r in await outbox.peek(2)] == [b"first", b"second"]


async def test_peek_does_not_remove_anything(outbox: Outbox) -> None:
    await outbox.put("t", b"k", b"v")

    await outbox.peek(10)

    assert (await outbox.stats()).depth == 1
    assert await values(outbox) == [b"v"]


async def test_records_survive_closing_and_reopening_the_file(path: Path) -> None:
    first = Outbox(path, max_events=100, max_bytes=10_000)
    await first.put_many([("t", b"k1", b"a"), ("t", b"k2", b"b")])
    stored = await first.peek(10)
    await first.close()

    second = Outbox(path, max_events=100, max_bytes=10_000)
    try:
        assert await second.peek(10) == stored
        stats = await second.stats()
        assert (stats.depth, stats.bytes) == (2, 6)
        assert stats.oldest_enqueued_at == stored[0].enqueued_at
    finally:
        await second.close()


async def test_ids_are_never_reused_even_after_the_outbox_emptied(path: Path) -> None:
    box = Outbox(path, max_events=100, max_bytes=10_000)
    await box.put("t", b"k", b"a")
    (old,) = await box.peek(1)
    await box.delete([old.id])
    await box.close()

    box = Outbox(path, max_events=100, max_bytes=10_000)
    try:
        await box.put("t", b"k", b"b")
        (new,) = await box.peek(1)
        assert new.id > old.id
    finally:
        await box.close()


async def test_full_by_count_drops_the_oldest_and_counts_them(path: Path) -> None:
    box = Outbox(path, max_events=3, max_bytes=1_000_000)
    for value in (b"1", b"2", b"3", b"4", b"5"):
        await box.put("t", b"k", value)

    assert await values(box) == [b"3", b"4", b"5"]
    stats = await box.stats()
    assert (stats.depth, stats.dropped) == (3, 2)
    await box.close()

    reopened = Outbox(path, max_events=3, max_bytes=1_000_000)
    try:
        assert (await reopened.stats()).dropped == 2
        await reopened.put("t", b"k", b"6")
        assert await values(reopened) == [b"4", b"5", b"6"]
        assert (await reopened.stats()).dropped == 3
    finally:
        await reopened.close()


async def test_full_by_bytes_drops_the_oldest_until_the_new_record_fits(path: Path) -> None:
    box = Outbox(path, max_events=1000, max_bytes=100)
    await box.put_many([("t", b"k", b"a" * 39), ("t", b"k", b"b" * 39)])  # 80 bytes

    await box.put("t", b"k", b"c" * 39)  # 120 bytes: the oldest must go

    assert await values(box) == [b"b" * 39, b"c" * 39]
    stats = await box.stats()
    assert (stats.depth, stats.bytes, stats.dropped) == (2, 80, 1)
    await box.close()

    reopened = Outbox(path, max_events=1000, max_bytes=100)
    try:
        assert (await reopened.stats()).dropped == 1
    finally:
        await reopened.close()


async def test_a_batch_larger_than_the_bound_keeps_its_newest_records(path: Path) -> None:
    small = Outbox(path, max_events=2, max_bytes=1_000_000)
    try:
        await small.put_many([("t", b"k", bytes([i])) for i in range(5)])
        assert await values(small) == [bytes([3]), bytes([4])]
        assert (await small.stats()).dropped == 3
    finally:
        await small.close()


async def test_a_record_that_can_never_fit_is_refused_without_dropping_anything(
    path: Path,
) -> None:
    box = Outbox(path, max_events=10, max_bytes=50)
    try:
        await box.put("t", b"k", b"kept")
        with pytest.raises(RecordTooLargeError, match="max_bytes=50"):
            await box.put_many([("t", b"k", b"fits"), ("t", b"k", b"x" * 50)])
        assert await values(box) == [b"kept"]
        assert (await box.stats()).dropped == 0
    finally:
        await box.close()


async def test_delete_removes_only_the_given_ids(outbox: Outbox) -> None:
    await outbox.put_many([("t", b"k", value) for value in (b"a", b"bb", b"c", b"dd", b"e")])
    records = await outbox.peek(10)

    await outbox.delete([records[1].id, records[3].id, records[4].id + 1000])

    assert await values(outbox) == [b"a", b"c", b"e"]
    stats = await outbox.stats()
    assert (stats.depth, stats.bytes, stats.dropped) == (3, 6, 0)


async def test_stats_report_depth_bytes_and_the_oldest_enqueue_time(outbox: Outbox) -> None:
    empty = await outbox.stats()
    assert (empty.depth, empty.bytes, empty.dropped, empty.oldest_enqueued_at) == (0, 0, 0, None)

    await outbox.put("t", b"key", b"value")
    await outbox.put("t", b"k", b"v")
    first, second = await outbox.peek(10)
    stats = await outbox.stats()
    assert (stats.depth, stats.bytes) == (2, 10)
    assert stats.oldest_enqueued_at == first.enqueued_at

    await outbox.delete([first.id])
    assert (await outbox.stats()).oldest_enqueued_at == second.enqueued_at


async def test_the_file_is_in_wal_mode(outbox: Outbox, path: Path) -> None:
    await outbox.put("t", b"k", b"v")

    with sqlite3.connect(path) as conn:
        (mode,) = conn.execute("PRAGMA journal_mode").fetchone()

    assert mode == "wal"


async def test_sqlite_runs_off_the_event_loop_thread(
    outbox: Outbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    threads: list[int] = []
    original = Outbox._put_rows

    def spy(
        self: Outbox, records: list[tuple[str, bytes, bytes]], conn: sqlite3.Connection
    ) -> None:
        threads.append(threading.get_ident())
        original(self, records, conn)

    monkeypatch.setattr(Outbox, "_put_rows", spy)
    await outbox.put("t", b"k", b"v")

    assert threads and threading.get_ident() not in threads


async def test_calls_after_close_are_refused(path: Path) -> None:
    box = Outbox(path, max_events=10, max_bytes=1000)
    await box.put("t", b"k", b"v")
    await box.close()

    with pytest.raises(OutboxClosedError):
        await box.put("t", b"k", b"late")


class OutboxModel(RuleBasedStateMachine):
    """Any sequence of puts, deletes and reopens keeps FIFO order, the bounds and the drop count."""

    max_events = 6
    max_bytes = 120

    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.dir = tempfile.TemporaryDirectory()
        self.path = Path(self.dir.name) / "model.sqlite3"
        self.box = Outbox(self.path, self.max_events, self.max_bytes)
        self.expected: deque[bytes] = deque()
        self.dropped = 0
        self.counter = 0

    @rule(sizes=st.lists(st.integers(min_value=0, max_value=max_bytes - 5), max_size=8))
    def put_many(self, sizes: list[int]) -> None:
        batch = []
        for size in sizes:
            self.counter += 1
            # Unique values, so the model can tell records apart; key b"k" + 4-byte counter.
            batch.append(("t", b"k", self.counter.to_bytes(4, "big") + b"x" * size))
        self.loop.run_until_complete(self.box.put_many(batch))
        self.expected.extend(value for _, _, value in batch)
        while len(self.expected) > self.max_events or self.model_bytes() > self.max_bytes:
            self.expected.popleft()
            self.dropped += 1

    @rule(data=st.data())
    def delete_some(self, data: st.DataObject) -> None:
        records = self.loop.run_until_complete(self.box.peek(1000))
        chosen = data.draw(st.lists(st.sampled_from(records), unique_by=lambda r: r.id)
                           if records else st.just([]))
        self.loop.run_until_complete(self.box.delete(r.id for r in chosen))
        gone = {r.value for r in chosen}
        self.expected = deque(v for v in self.expected if v not in gone)

    @rule()
    def reopen(self) -> None:
        self.loop.run_until_complete(self.box.close())
        self.box = Outbox(self.path, self.max_events, self.max_bytes)

    def model_bytes(self) -> int:
        return sum(1 + len(value) for value in self.expected)

    @invariant()
    def contents_are_the_model_in_order_within_bounds(self) -> None:
        records = self.loop.run_until_complete(self.box.peek(1000))
        stats = self.loop.run_until_complete(self.box.stats())
        assert [r.value for r in records] == list(self.expected)
        assert [r.id for r in records] == sorted(r.id for r in records)
        assert stats.depth == len(records) <= self.max_events
        assert stats.bytes == self.model_bytes() <= self.max_bytes
        assert stats.dropped == self.dropped

    def teardown(self) -> None:
        self.loop.run_until_complete(self.box.close())
        self.loop.close()
        self.dir.cleanup()


OutboxModel.TestCase.settings = settings(
    max_examples=60, stateful_step_count=25, deadline=None
)
test_outbox_model = OutboxModel.TestCase


@pytest.fixture
async def connected(path: Path, monkeypatch: pytest.MonkeyPatch
                    ) -> AsyncIterator[list[sqlite3.Connection]]:
    """The connections an outbox opened for its first put (its settings are per connection)."""
    opened: list[sqlite3.Connection] = []
    connect = sqlite3.connect

    def recording_connect(database: Path, **kwargs: Any) -> sqlite3.Connection:
        conn: sqlite3.Connection = connect(database, **kwargs, check_same_thread=False)
        opened.append(conn)
        return conn

    monkeypatch.setattr(sqlite3, "connect", recording_connect)
    box = Outbox(path, max_events=10, max_bytes=1000)
    try:
        await box.put("t", b"k", b"v")
        yield opened
    finally:
        await box.close()


async def test_the_outbox_never_runs_with_synchronous_off(
    connected: list[sqlite3.Connection],
) -> None:
    """`synchronous` is per connection (not in the file), so the outbox's own one is asked.

    OFF lets a power cut corrupt the file; NORMAL (documented) or FULL keep every commit that
    a crash of the process could lose.
    """
    assert len(connected) == 1
    (level,) = connected[0].execute("PRAGMA synchronous").fetchone()
    assert level in (1, 2), f"synchronous={level} (0 OFF, 1 NORMAL, 2 FULL)"


# --- pinned by `make mutation` (docs/testing.md) ----------------------------------------------

@pytest.mark.parametrize(("max_events", "max_bytes"), [(0, 1), (1, 0), (-1, 1)])
def test_bounds_must_be_positive(max_events: int, max_bytes: int) -> None:
    with pytest.raises(ValueError, match=f"max_events={max_events} max_bytes={max_bytes}"):
        Outbox(Path("unused.sqlite3"), max_events=max_events, max_bytes=max_bytes)


async def test_a_record_exactly_at_max_bytes_fits(path: Path) -> None:
    box = Outbox(path, max_events=10, max_bytes=10)
    try:
        await box.put("t", b"key", b"seven!!")  # 3 + 7 = 10 bytes: the bound, not beyond
        stats = await box.stats()
        assert (stats.depth, stats.bytes, stats.dropped) == (1, 10, 0)
        with pytest.raises(RecordTooLargeError, match="topic 't' is 11 bytes"):
            await box.put("t", b"key", b"eight!!!")
    finally:
        await box.close()


async def test_an_empty_batch_or_delete_touches_nothing(path: Path) -> None:
    box = Outbox(path, max_events=10, max_bytes=100)
    try:
        await box.put_many([])
        await box.delete([])
        assert not await asyncio.to_thread(path.exists), "nothing to write: not even opened"
    finally:
        await box.close()


async def test_a_delete_of_more_ids_than_one_statement_takes_removes_them_all(
        path: Path) -> None:
    box = Outbox(path, max_events=2000, max_bytes=1_000_000)
    try:
        await box.put_many([("t", b"", b"%d" % i) for i in range(1000, 2200)])
        records = await box.peek(2000)
        await box.delete(r.id for r in records[:1100])  # three chunks of at most 500
        assert await values(box) == [b"%d" % i for i in range(2100, 2200)]
        stats = await box.stats()
        assert (stats.depth, stats.bytes, stats.dropped) == (100, 400, 0)  # 4 bytes each
    finally:
        await box.close()


async def test_the_latest_delivery_error_is_kept_cut_and_survives_a_reopen(path: Path) -> None:
    box = Outbox(path, max_events=10, max_bytes=1000)
    await box.record_error("broker down", 1000.5)
    await box.record_error("x" * 2500, 2000.25)
    stats = await box.stats()
    assert (stats.last_error, stats.last_error_at) == ("x" * 2000, 2000.25)
    await box.close()

    reopened = Outbox(path, max_events=10, max_bytes=1000)
    try:
        stats = await reopened.stats()
        assert (stats.last_error, stats.last_error_at) == ("x" * 2000, 2000.25)
        assert (stats.depth, stats.bytes, stats.dropped, stats.oldest_enqueued_at) == (
            0, 0, 0, None)
    finally:
        await reopened.close()


async def test_read_stats_sees_what_the_running_producer_wrote(path: Path) -> None:
    box = Outbox(path, max_events=2, max_bytes=1000)
    try:
        await box.put_many([("t", b"k", b"a"), ("t", b"k", b"bb"), ("t", b"k", b"ccc")])
        await box.record_error("timeout", 1234.5)
        oldest = (await box.peek(1))[0].enqueued_at
        assert read_stats(path) == OutboxStats(depth=2, bytes=7, dropped=1,
                                               oldest_enqueued_at=oldest,
                                               last_error="timeout", last_error_at=1234.5)
    finally:
        await box.close()


async def test_read_stats_of_an_empty_outbox(outbox: Outbox, path: Path) -> None:
    await outbox.stats()  # opens (creates) the file
    assert read_stats(path) == OutboxStats(depth=0, bytes=0, dropped=0, oldest_enqueued_at=None)


def test_read_stats_of_a_file_from_before_the_meta_table(path: Path) -> None:
    path.parent.mkdir(parents=True)
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE outbox (id INTEGER PRIMARY KEY AUTOINCREMENT, topic TEXT, "
                     "key BLOB, value BLOB, size INTEGER, enqueued_at REAL)")
        conn.execute("CREATE TABLE counters (name TEXT PRIMARY KEY, value INTEGER)")
        conn.execute("INSERT INTO counters VALUES ('dropped', 4)")
        conn.execute("INSERT INTO outbox (topic, key, value, size, enqueued_at) "
                     "VALUES ('t', x'6b', x'7676', 3, 99.5)")
    conn.close()
    assert read_stats(path) == OutboxStats(depth=1, bytes=3, dropped=4, oldest_enqueued_at=99.5)


def test_read_stats_refuses_a_missing_or_foreign_file(tmp_path: Path) -> None:
    with pytest.raises(OutboxError, match="no such outbox file"):
        read_stats(tmp_path / "absent.sqlite3")
    foreign = tmp_path / "foreign.sqlite3"
    with sqlite3.connect(foreign) as conn:
        conn.execute("CREATE TABLE other (x)")
    conn.close()
    with pytest.raises(OutboxError, match="not a readable outbox"):
        read_stats(foreign)
    garbage = tmp_path / "garbage.sqlite3"
    garbage.write_bytes(b"not a database at all" * 100)
    with pytest.raises(OutboxError, match=str(garbage)):
        read_stats(garbage)


async def test_a_failed_put_rolls_back_and_leaves_the_outbox_as_it_was(path: Path) -> None:
    box = Outbox(path, max_events=10, max_bytes=1000)
    try:
        await box.put("t", b"k", b"kept")
        with pytest.raises(sqlite3.IntegrityError):
            await box.put_many([("t", b"k", b"new"), (None, b"k", b"v")])  # type: ignore[list-item]
        assert await values(box) == [b"kept"]
        await box.put("t", b"k", b"after")  # the transaction did not stay open
        assert await values(box) == [b"kept", b"after"]
    finally:
        await box.close()


async def test_bounds_of_one_are_valid(path: Path) -> None:
    box = Outbox(path, max_events=1, max_bytes=1)
    try:
        await box.put("t", b"", b"a")
        await box.put("t", b"", b"b")
        assert await values(box) == [b"b"]
    finally:
        await box.close()


async def test_the_outbox_thread_is_named_after_its_file(
    outbox: Outbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    names: list[str] = []
    original = Outbox._put_rows

    def spy(
        self: Outbox, records: list[tuple[str, bytes, bytes]], conn: sqlite3.Connection
    ) -> None:
        names.append(threading.current_thread().name)
        original(self, records, conn)

    monkeypatch.setattr(Outbox, "_put_rows", spy)
    await outbox.put("t", b"k", b"v")
    [name] = names
    assert name.startswith("outbox-test_")  # the file is test.sqlite3


async def test_close_closes_the_file(path: Path) -> None:
    box = Outbox(path, max_events=10, max_bytes=1000)
    await box.put("t", b"k", b"v")
    wal = path.with_name(path.name + "-wal")
    assert await asyncio.to_thread(wal.exists)
    await box.close()
    # SQLite checkpoints and removes the WAL file when its last connection closes.
    assert not await asyncio.to_thread(wal.exists)


def test_read_stats_of_a_file_without_a_dropped_counter_reads_0(path: Path) -> None:
    path.parent.mkdir(parents=True)
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE outbox (id INTEGER PRIMARY KEY AUTOINCREMENT, topic TEXT, "
                     "key BLOB, value BLOB, size INTEGER, enqueued_at REAL)")
        conn.execute("CREATE TABLE counters (name TEXT PRIMARY KEY, value INTEGER)")
    conn.close()
    assert read_stats(path) == OutboxStats(depth=0, bytes=0, dropped=0, oldest_enqueued_at=None)


async def test_one_byte_over_the_bound_drops_the_oldest(path: Path) -> None:
    box = Outbox(path, max_events=10, max_bytes=10)
    try:
        await box.put("t", b"k", b"1234")  # 5 bytes
        await box.put("t", b"k", b"12345")  # 6 bytes: 11 in all, one over
        assert await values(box) == [b"12345"]
        stats = await box.stats()
        assert (stats.depth, stats.bytes, stats.dropped) == (1, 6, 1)
    finally:
        await box.close()


async def test_the_closed_error_names_the_file(path: Path) -> None:
    box = Outbox(path, max_events=10, max_bytes=1000)
    await box.close()
    with pytest.raises(OutboxClosedError, match=f"outbox {path} is closed"):
        await box.peek(1)


async def test_the_data_directory_is_created_with_its_parents(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "a" / "b" / "c.sqlite3", max_events=10, max_bytes=1000)
    try:
        await box.put("t", b"k", b"v")
        assert await values(box) == [b"v"]
    finally:
        await box.close()


async def test_a_file_sqlite_cannot_put_in_wal_mode_is_refused_with_the_fix() -> None:
    # SQLite's in-memory database answers `journal_mode=WAL` with "memory".
    box = Outbox(Path(":memory:"), max_events=10, max_bytes=1000)
    try:
        with pytest.raises(OutboxError) as caught:
            await box.put("t", b"k", b"v")
        assert str(caught.value) == (
            ":memory:: SQLite refused WAL journal mode (got 'memory'); put the data directory "
            "on a local filesystem")
    finally:
        await box.close()


async def test_opening_logs_what_the_file_holds(
    path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    first = Outbox(path, max_events=2, max_bytes=1000)
    await first.put_many([("t", b"k", b"a"), ("t", b"k", b"bb"), ("t", b"k", b"c")])
    await first.close()
    caplog.set_level(logging.INFO, logger="producers.outbox")
    second = Outbox(path, max_events=2, max_bytes=1000)
    try:
        await second.stats()
    finally:
        await second.close()
    assert [r.getMessage() for r in caplog.records if r.name == "producers.outbox"] == [
        f"outbox.opened path={path} depth=2 bytes=5 dropped=1"]


async def test_the_outbox_waits_5_s_for_a_lock_before_failing(
    connected: list[sqlite3.Connection],
) -> None:
    assert connected[0].execute("PRAGMA busy_timeout").fetchone() == (5000,)
