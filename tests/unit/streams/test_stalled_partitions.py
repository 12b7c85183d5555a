"""The stalled-partition watch: when a partition counts as stalled, when it is read again, and
the Faust internals it reads (pinned: a Faust upgrade that changes them fails here loudly)."""

from __future__ import annotations

import inspect

import pytest
from faust.channels import Channel
from faust.streams import Stream
from faust.transport.conductor import Conductor, ConductorCompiler
from faust.transport.consumer import Consumer
from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread
from faust.transport.producer import ProducerBuffer
from faust.types import TP

from streams.stalled_partitions import PartitionView, StallWatch

TP0, TP1 = TP("t", 0), TP("t", 1)


def view(committed: int | None = 100, end: int | None = 150, busy: bool = False,
         read: int | None = 99) -> PartitionView:
    return PartitionView(committed=committed, end=end, busy=busy, read=read)


def test_records_waiting_that_are_nowhere_in_the_worker_are_a_stall() -> None:
    assert view().stalled()  # skipped by getmany: the read offset is below them
    assert view(read=140).stalled()  # dropped: the read offset went past them
    assert view(read=100).stalled()  # sought to the committed offset, nothing delivered since


def test_a_healthy_partition_never_looks_stalled() -> None:
    assert not view(busy=True).stalled()  # buffered, in flight or acked: it moves
    assert not view(committed=150).stalled()  # all done and committed
    assert not view(committed=None).stalled()  # never committed: the reset policy's seek
    assert not view(end=None).stalled()  # end unknown before the first fetch


def test_a_stall_is_read_again_once_and_left_alone_if_the_reread_delivers_nothing(
        caplog: pytest.LogCaptureFixture) -> None:
    watch = StallWatch(stall_s=10)
    assert watch.due({TP0: view()}, now=0) == {}
    assert watch.due({TP0: view()}, now=9.9) == {}
    assert watch.due({TP0: view()}, now=10) == {TP0: 100}
    assert watch.due({TP0: view()}, now=15) == {}
    # As long again after the re-read on the same offsets: nothing a fetch delivers (a
    # transaction marker at the end); no re-read every 10 s for ever.
    assert watch.due({TP0: view()}, now=20) == {}
    assert "consumer.stall_accepted" in caplog.text
    assert watch.due({TP0: view()}, now=1000) == {}
    # New records behind it: watched again from the start.
    assert watch.due({TP0: view(end=151)}, now=1001) == {}
    assert watch.due({TP0: view(end=151)}, now=1011) == {TP0: 100}


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


def test_a_wait_starts_over_after_delivery_was_held_back() -> None:
    watch = StallWatch(stall_s=10)
    watch.due({TP0: view()}, now=0)
    watch.forget()  # a buffer under pressure, a rebalance: the records may be on their way
    assert watch.due({TP0: view()}, now=10) == {}
    assert watch.due({TP0: view()}, now=20) == {TP0: 100}


def test_faust_still_keeps_the_bookkeeping_the_watch_reads() -> None:
    init = inspect.getsource(Consumer.__init__)
    for attribute in ("self._read_offset = defaultdict(lambda: None)",
                      "self._committed_offset = defaultdict(lambda: None)",
                      "self._acked = defaultdict(list)",
                      "self._unacked_messages = WeakSet()",
                      "self._buffered_partitions = set()"):
        assert attribute in init, f"faust changed {attribute!r}: re-check stalled_partitions"
    assert "self._buffered_partitions.add(tp)" in inspect.getsource(Consumer.on_buffer_full)
    assert "self._unacked_messages.discard(message)" in inspect.getsource(Consumer.ack)
    # Taken by a stream: tracked as unacked (inlined Consumer.track_message).
    assert "This inlines Consumer.track_message(message)" in inspect.getsource(Stream)
    # Fetched events wait in the subscribed channel's own queue until a stream takes them.
    assert "self._queue = self.app.FlowControlQueue(" in inspect.getsource(Channel)
    assert "queue = chan.queue" in inspect.getsource(ConductorCompiler)
    assert "self._topics = set()" in inspect.getsource(Conductor.__init__)
    ebb = inspect.getsource(ProducerBuffer.wait_until_ebb)
    assert "if self.size > self.max_messages:" in ebb


def test_faust_still_loses_fetched_records_in_getmany_and_relies_on_one_seek() -> None:
    getmany = inspect.getsource(Consumer.getmany)
    assert "Generation id changed from %r to %r. Cancelling getmany." in getmany
    assert "or tp in self._buffered_partitions" in getmany  # other records are skipped


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
