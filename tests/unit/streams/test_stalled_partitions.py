"""The stalled-partition watch: when a partition counts as stalled, when it is read again, and
the Faust internals it reads (pinned: a Faust upgrade that changes them fails here loudly)."""

from __future__ import annotations

import inspect

from faust.transport.consumer import Consumer
from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread
from faust.types import TP

from streams.stalled_partitions import PartitionView, StallWatch

TP0, TP1 = TP("t", 0), TP("t", 1)


def view(committed: int | None = 100, read: int | None = 140, end: int | None = 150,
         busy: bool = False) -> PartitionView:
    return PartitionView(committed=committed, read=read, end=end, busy=busy)


def test_records_read_past_and_never_delivered_are_a_stall() -> None:
    assert view().stalled()
    assert view(read=100).stalled()  # sought to the committed offset, nothing delivered since


def test_a_healthy_partition_never_looks_stalled() -> None:
    assert not view(busy=True).stalled()  # in flight or acked: it moves
    assert not view(committed=150, read=149).stalled()  # all done and committed
    assert not view(committed=120, read=119, end=150).stalled()  # waits for its next fetch
    assert not view(committed=None).stalled()  # never committed: the reset policy's seek
    assert not view(read=None).stalled()  # nothing read since the assignment
    assert not view(end=None).stalled()  # end unknown before the first fetch


def test_a_stall_is_read_again_once_it_lasted_and_then_after_as_long_again() -> None:
    watch = StallWatch(stall_s=10)
    assert watch.due({TP0: view()}, now=0) == {}
    assert watch.due({TP0: view()}, now=9.9) == {}
    assert watch.due({TP0: view()}, now=10) == {TP0: 100}
    assert watch.due({TP0: view()}, now=15) == {}
    assert watch.due({TP0: view()}, now=20) == {TP0: 100}


def test_progress_or_a_lost_partition_restarts_the_wait() -> None:
    watch = StallWatch(stall_s=10)
    watch.due({TP0: view(), TP1: view()}, now=0)
    # TP0 committed further (still stalled after): a new wait; TP1 moved (busy), then stalls.
    assert watch.due({TP0: view(committed=120), TP1: view(busy=True)}, now=8) == {}
    assert watch.due({TP0: view(committed=120), TP1: view()}, now=12) == {}
    assert watch.due({TP0: view(committed=120), TP1: view()}, now=18) == {TP0: 120}
    # TP1 revoked meanwhile and assigned again: its wait starts over.
    assert watch.due({TP0: view(busy=True)}, now=19) == {}
    assert watch.due({TP1: view()}, now=25) == {}
    assert watch.due({TP1: view()}, now=35) == {TP1: 100}


def test_faust_still_keeps_the_bookkeeping_the_watch_reads() -> None:
    init = inspect.getsource(Consumer.__init__)
    for attribute in ("self._read_offset = defaultdict(lambda: None)",
                      "self._committed_offset = defaultdict(lambda: None)",
                      "self._acked = defaultdict(list)",
                      "self._unacked_messages = WeakSet()"):
        assert attribute in init, f"faust changed {attribute!r}: re-check stalled_partitions"
    assert "self._unacked_messages.add(message)" in inspect.getsource(Consumer.track_message)
    assert "self._unacked_messages.discard(message)" in inspect.getsource(Consumer.ack)


def test_faust_still_moves_its_read_offset_for_a_record_a_suspended_flow_abandoned() -> None:
    # The cause the watch heals: the read offset is set after the delivery, also when the wait
    # ended because the flow was suspended (a rebalance) and the record was never delivered.
    drain = inspect.getsource(Consumer._drain_messages)
    delivery = drain.index("callback(message), self.suspend_flow.wait()")
    assert drain.index("set_read_offset(tp, offset)", delivery) > delivery
    assert '"DROPPED MESSAGE ROFF %r: k=%r v=%r"' in drain


def test_faust_seek_wait_still_resets_the_read_offset_to_the_seek() -> None:
    source = inspect.getsource(AIOKafkaConsumerThread._seek_wait)
    assert "self.consumer._read_offset[tp] = offset" in source
