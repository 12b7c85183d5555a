"""The Faust side of the runtime that needs no broker: when a partition counts as catching up."""

from __future__ import annotations

from typing import Any

from streams.pipeline.agent import partition_clock

US = 1_000_000


def test_only_a_backlog_of_old_telemetry_counts_as_catching_up() -> None:
    now = 1_000 * US
    assert partition_clock(500, 100, now - 61 * US, now, 60) is None, "old reports and more waiting"
    assert partition_clock(500, 100, now - 1 * US, now, 60) == now - 1 * US, "busy but current"
    assert partition_clock(101, 100, now - 3600 * US, now, 60) == now, "caught up: truly silent"


def test_a_partition_with_records_waiting_is_judged_at_the_newest_event_processed_there() -> None:
    """Regression (issue 12, the partition test's false alerts after a rejoin): a partition a
    few seconds behind counted as caught up (its newest event 29.97 s old, inside the 30 s
    threshold) and its keys were judged by the wall clock: a job last seen a second before
    that newest event was called stale while its next report waited."""
    now = 1_000 * US
    newest = now - 29 * US
    assert partition_clock(500, 100, newest, now, 30) == newest, "records wait: event time"
    assert partition_clock(101, 100, newest, now, 30) == now, "caught up: the wall clock"
    assert partition_clock(500, 100, now + 5 * US, now, 30) == now, "a clock ahead: never later"
    assert partition_clock(500, 100, None, now, 30) is None, "records wait, none seen yet"
    assert partition_clock(None, 100, newest, now, 30) is None, "its end not known yet"


def test_sweep_clocks_skip_partitions_catching_up_and_time_the_others() -> None:
    from types import SimpleNamespace

    from faust.types import TP

    from streams.pipeline.agent import sweep_clocks
    from streams.pipeline.runtime import PartitionProgress

    now = 1_000 * US
    ends = {TP("t", 0): 10, TP("t", 1): 500, TP("t", 2): 500, TP("t", 3): 7}
    app: Any = SimpleNamespace(consumer=SimpleNamespace(highwater=ends.get,
                                                        _committed_offset={}))
    progress = PartitionProgress()
    progress.note(0, 9, now - 100 * US)  # at the end: silent for real
    progress.note(1, 100, now - 2 * US)  # records wait, current: judged at its newest event
    progress.note(2, 100, now - 61 * US)  # records wait, old: catching up
    progress.note(9, 1, now)  # no longer owned: forgotten
    pipeline: Any = SimpleNamespace(progress=progress)
    clocks = sweep_clocks(app, pipeline, set(ends), now, 60)
    assert clocks == {0: now, 1: now - 2 * US, 2: None, 3: None}
    assert 9 not in progress.offsets


def test_a_partition_taken_over_with_a_backlog_is_caught_up_on_first() -> None:
    now = 1_000 * US
    assert partition_clock(500, None, None, now, 60) is None, "nothing committed, records waiting"
    assert partition_clock(500, 100, None, now, 60) is None, "committed behind, none seen"
    assert partition_clock(101, 100, None, now, 60) == now, "committed at the end"
    assert partition_clock(0, None, None, now, 60) == now, "an empty partition"


def test_a_partition_whose_end_is_not_known_yet_is_caught_up_on_first() -> None:
    """Regression: just after a takeover, before the consumer's first fetch of a partition, its
    end offset is unknown; the sweep took it for caught up and judged the recovered states
    (silent for the whole downtime) stale: a storm of stale alerts, cleared moments later."""
    now = 1_000 * US
    assert partition_clock(None, None, None, now, 60) is None
    assert partition_clock(None, 100, now - 1 * US, now, 60) is None


def test_a_committed_offset_is_the_next_to_read_so_the_one_before_it_is_processed() -> None:
    # Regression: the committed offset was taken as processed, so a taken-over partition with
    # exactly one record waiting counted as caught up.
    from types import SimpleNamespace

    from faust.types import TP

    from streams.pipeline.agent import processed_offset
    from streams.pipeline.runtime import PartitionProgress

    tp = TP("t", 0)
    app: Any = SimpleNamespace(consumer=SimpleNamespace(_committed_offset={tp: 5}))
    pipeline: Any = SimpleNamespace(progress=PartitionProgress())
    assert processed_offset(app, pipeline, tp) == 4
    assert partition_clock(6, processed_offset(app, pipeline, tp), None, 0, 60) is None
    assert partition_clock(5, processed_offset(app, pipeline, tp), None, 0, 60) == 0
    pipeline.progress.note(0, 9, None)
    assert processed_offset(app, pipeline, tp) == 9
    app.consumer._committed_offset = {}
    assert processed_offset(app, pipeline, TP("t", 1)) is None


def test_a_batch_grows_only_while_more_records_wait_than_it_holds() -> None:
    from types import SimpleNamespace

    from faust.types import TP

    from streams.pipeline.agent import BacklogCheck

    a, b = TP("t", 0), TP("t", 1)
    ends: dict[TP, int | None] = {a: 110, b: None}
    app: Any = SimpleNamespace(consumer=SimpleNamespace(highwater=ends.get))

    def batch(*offsets: tuple[TP, int]) -> list[Any]:
        return [SimpleNamespace(message=SimpleNamespace(tp=tp, offset=offset))
                for tp, offset in offsets]

    exceeds = BacklogCheck(app)
    # Offsets 100-104 of `a` taken, 105-109 waiting: as many as the batch holds.
    assert exceeds(batch(*((a, n) for n in range(100, 105))))
    assert not exceeds(batch(*((a, n) for n in range(100, 106))))
    # A partition whose end is not known yet adds nothing; its records count in the batch.
    assert not exceeds(batch((a, 108), (b, 7)))
    ends[b] = 30
    assert exceeds(batch((a, 108), (b, 7)))
    assert not exceeds(batch((a, 109))), "caught up: the batch goes at once"


def test_the_backlog_check_reads_a_growing_batch_once_and_starts_over_for_the_next() -> None:
    from types import SimpleNamespace

    from faust.types import TP

    from streams.pipeline.agent import BacklogCheck

    a, b = TP("t", 0), TP("t", 1)
    ends: dict[TP, int | None] = {a: 200, b: 50}
    app: Any = SimpleNamespace(consumer=SimpleNamespace(highwater=ends.get))

    def event(tp: TP, offset: int) -> Any:
        return SimpleNamespace(message=SimpleNamespace(tp=tp, offset=offset))

    exceeds = BacklogCheck(app)
    events = [event(a, n) for n in range(100, 110)]
    assert exceeds(events)  # 90 waiting on a
    events += [event(a, n) for n in range(110, 199)] + [event(b, 40)]
    assert not exceeds(events), "a's later events were read: 9 waiting on b, 100 in the batch"
    # The same list, cleared and refilled by the next batch (take_batches reuses it).
    events.clear()
    events += [event(b, 41), event(b, 42)]
    assert exceeds(events), "7 wait on b: a's offsets of the last batch are forgotten"
    events[:] = [event(b, 49)]
    assert not exceeds(events)

