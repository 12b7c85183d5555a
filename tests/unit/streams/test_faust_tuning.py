"""The Faust tuning and its shims: each still applies, and upstream still looks as they assume.

The upstream checks fail on purpose when faust-streaming or aiokafka change the code a shim relies
on: re-measure (`bench/faust_tuning.py`) before adapting the shim; upstream may have fixed the
cause.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import tempfile
import time
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import faust
import pytest
import uvloop
from aiokafka import AIOKafkaConsumer
from aiokafka.client import AIOKafkaClient
from aiokafka.consumer.group_coordinator import GroupCoordinator
from aiokafka.errors import KafkaConnectionError
from faust.stores.memory import Store as MemoryStore
from faust.tables.recovery import Recovery
from faust.topics import Topic
from faust.transport.consumer import Consumer, ThreadDelegateConsumer
from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread, Producer
from faust.transport.producer import ProducerBuffer
from faust.types import TP
from faust.worker import Worker

from streams import faust_tuning


@pytest.fixture
def unpatched() -> Iterator[None]:
    """Faust's own methods during the test (another test's import of `streams.app` may have
    applied the shims already), and the classes as they were found afterwards."""
    create_consumer = AIOKafkaConsumerThread._create_worker_consumer
    setup_root_logger = Worker.on_setup_root_logger
    create_topic = Producer.create_topic
    seek_to_committed = AIOKafkaConsumerThread.seek_to_committed
    new_offset = Consumer._new_offset
    heartbeat, joined = GroupCoordinator._do_heartbeat, GroupCoordinator._on_join_complete
    confirmed_at = faust_tuning.GroupContact.confirmed_at
    Consumer._new_offset = getattr(  # type: ignore[method-assign]
        new_offset, "__wrapped__", new_offset)
    GroupCoordinator._do_heartbeat = getattr(heartbeat, "__wrapped__", heartbeat)
    GroupCoordinator._on_join_complete = getattr(joined, "__wrapped__", joined)
    faust_tuning.GroupContact.confirmed_at = None
    seek_offsets = Recovery._seek_offsets
    Recovery._seek_offsets = getattr(  # type: ignore[method-assign]
        seek_offsets, "__wrapped__", seek_offsets)
    add_gap = Consumer._add_gap
    Consumer._add_gap = getattr(add_gap, "__wrapped__", add_gap)  # type: ignore[method-assign]
    buffer_flush, send_pending = ProducerBuffer.flush, ProducerBuffer._send_pending
    ProducerBuffer.flush = getattr(  # type: ignore[method-assign]
        buffer_flush, "__wrapped__", buffer_flush)
    ProducerBuffer._send_pending = getattr(  # type: ignore[method-assign]
        send_pending, "__wrapped__", send_pending)
    AIOKafkaConsumerThread._create_worker_consumer = getattr(  # type: ignore[method-assign]
        create_consumer, "__wrapped__", create_consumer)
    Worker.on_setup_root_logger = getattr(  # type: ignore[method-assign]
        setup_root_logger, "__wrapped__", setup_root_logger)
    Producer.create_topic = getattr(  # type: ignore[method-assign]
        create_topic, "__wrapped__", create_topic)
    AIOKafkaConsumerThread.seek_to_committed = getattr(  # type: ignore[method-assign]
        seek_to_committed, "__wrapped__", seek_to_committed)
    yield
    AIOKafkaConsumerThread._create_worker_consumer = create_consumer  # type: ignore[method-assign]
    Worker.on_setup_root_logger = setup_root_logger  # type: ignore[method-assign]
    Producer.create_topic = create_topic  # type: ignore[method-assign]
    AIOKafkaConsumerThread.seek_to_committed = seek_to_committed  # type: ignore[method-assign]
    Consumer._new_offset = new_offset  # type: ignore[method-assign]
    GroupCoordinator._do_heartbeat, GroupCoordinator._on_join_complete = heartbeat, joined
    faust_tuning.GroupContact.confirmed_at = confirmed_at
    Recovery._seek_offsets = seek_offsets  # type: ignore[method-assign]
    ProducerBuffer.flush = buffer_flush  # type: ignore[method-assign]
    Consumer._add_gap = add_gap  # type: ignore[method-assign]
    ProducerBuffer._send_pending = send_pending  # type: ignore[method-assign]


def _upstream_create_worker_consumer() -> object:
    method = AIOKafkaConsumerThread._create_worker_consumer
    return getattr(method, "__wrapped__", method)


def _app(**kwargs: Any) -> faust.App:
    return faust.App(
        "tuning-test", broker="kafka://127.0.0.1:1", store="memory://", web_enabled=False,
        datadir=tempfile.mkdtemp(prefix="faust-tuning-test-"), **kwargs)


def test_faust_still_hard_codes_the_fetch_wait_the_shim_replaces() -> None:
    source = inspect.getsource(_upstream_create_worker_consumer())  # type: ignore[arg-type]
    expected = f"fetch_max_wait_ms={faust_tuning.FAUST_FETCH_MAX_WAIT_MS},"
    assert expected in source, (
        "faust's aiokafka driver no longer passes a hard-coded fetch_max_wait_ms=1500: "
        "if it is a setting now, use it and drop patch_fetch_max_wait")


def test_aiokafka_hands_the_stored_fetch_wait_to_its_fetcher_at_start() -> None:
    # The shim sets the attribute on the unstarted consumer; that only works while start() reads it.
    assert "self._fetch_max_wait_ms = fetch_max_wait_ms" in inspect.getsource(
        AIOKafkaConsumer.__init__)
    assert "fetch_max_wait_ms=self._fetch_max_wait_ms" in inspect.getsource(
        AIOKafkaConsumer.start)


@pytest.mark.usefixtures("unpatched")
async def test_patched_worker_consumer_waits_the_configured_time_and_keeps_the_rest() -> None:
    app = _app(consumer_max_fetch_size=3 * 1024 * 1024)
    faust_tuning.patch_fetch_max_wait(40)
    faust_tuning.patch_fetch_max_wait(42)  # again: replaces, does not stack wrappers
    thread: AIOKafkaConsumerThread = app.consumer._thread  # type: ignore[attr-defined]
    consumer = thread._create_worker_consumer(app.transport)  # type: ignore[arg-type]
    assert consumer._fetch_max_wait_ms == 42
    assert consumer._max_partition_fetch_bytes == 3 * 1024 * 1024
    patched: Any = AIOKafkaConsumerThread._create_worker_consumer
    assert patched.__wrapped__ is _upstream_create_worker_consumer()


@pytest.mark.usefixtures("unpatched")
def test_fetch_wait_must_be_positive() -> None:
    with pytest.raises(ValueError, match="must be positive"):
        faust_tuning.patch_fetch_max_wait(0)


def test_tuned_kwargs_are_faust_settings_and_take_effect() -> None:
    kwargs = faust_tuning.tuned_app_kwargs()
    unknown = set(kwargs) - set(faust.Settings.SETTINGS)
    assert not unknown, f"faust no longer has the settings {sorted(unknown)}"
    conf = _app(**kwargs).conf
    assert {key: getattr(conf, key) for key in kwargs} == kwargs


def test_cython_check_looks_for_the_modules_faust_uses() -> None:
    # faust falls back to pure Python silently when these imports fail; cython_available() must
    # say what faust will actually run.
    from faust import streams
    from faust.transport import conductor

    compiled = (getattr(streams, "_CStreamIterator", None) is not None
                and getattr(conductor, "ConductorHandler", None) is not None)
    assert faust_tuning.cython_available() is compiled
    assert faust_tuning.tuned_app_kwargs()["cython_optimizations"] is compiled


def test_cython_optimizations_is_still_an_opt_in_faust_reads() -> None:
    from faust.utils.optin import cython_optimizations_enabled

    assert faust.Settings.SETTINGS["cython_optimizations"].default is False
    assert cython_optimizations_enabled(_app(cython_optimizations=True).conf) is True


def test_use_uvloop_makes_new_loops_uvloop() -> None:
    before = asyncio.get_event_loop_policy()
    try:
        faust_tuning.use_uvloop()
        loop = asyncio.new_event_loop()
        try:
            assert isinstance(loop, uvloop.Loop)
        finally:
            loop.close()
    finally:
        asyncio.set_event_loop_policy(before)


def test_faust_worker_still_lowers_the_root_logger_for_its_spinner() -> None:
    method = Worker.on_setup_root_logger
    upstream: Any = getattr(method, "__wrapped__", method)
    assert "self._setup_spinner_handler(logger, level)" in inspect.getsource(upstream)
    spinner_setup = inspect.getsource(Worker._setup_spinner_handler)
    assert "if self.spinner:" in spinner_setup, "the spinner is no longer optional"
    assert "logger.setLevel(logging.DEBUG)" in spinner_setup, (
        "faust's spinner no longer lowers the root logger: drop patch_quiet_root_logger")


def _configured_logger(worker: Worker) -> logging.Logger:
    logger = logging.Logger("tuning-test-root", logging.WARNING)
    logger.addHandler(logging.NullHandler())
    worker.on_setup_root_logger(logger, logging.WARNING)
    return logger


@pytest.mark.usefixtures("unpatched")
async def test_quiet_root_logger_keeps_the_configured_level_at_warn() -> None:
    worker = Worker(_app(), loglevel="warn")
    assert _configured_logger(worker).level == logging.DEBUG  # what the shim is for
    faust_tuning.patch_quiet_root_logger()
    faust_tuning.patch_quiet_root_logger()  # again: replaces, does not stack wrappers
    worker = Worker(_app(), loglevel="warn")
    logger = _configured_logger(worker)
    assert logger.level == logging.WARNING
    assert len(logger.handlers) == 1  # no spinner handler added
    assert worker.spinner is None


def test_faust_consumers_still_keep_committed_offsets_per_partition() -> None:
    from faust.transport.consumer import Consumer

    init = inspect.getsource(Consumer.__init__)
    assert "self._committed_offset = defaultdict(lambda: None)" in init, (
        "Consumer._committed_offset changed: fix streams.faust_tuning.committed_offset")
    assert "self._committed_offset.update(" in inspect.getsource(Consumer.perform_seek)


def test_faust_still_keeps_its_aiokafka_producer_behind_ensure_producer() -> None:
    from faust.transport.drivers.aiokafka import Producer

    source = inspect.getsource(Producer._ensure_producer)
    assert "return self._producer" in source, (
        "faust changed how it holds its aiokafka producer: fix faust_tuning.kafka_producer")
    assert "producer = self._producer = self._new_producer()" in inspect.getsource(
        Producer.on_start)


def test_aiokafka_still_batches_and_partitions_as_kafka_batches_calls_it() -> None:
    from aiokafka import AIOKafkaProducer

    assert list(inspect.signature(AIOKafkaProducer._partition).parameters) == [
        "self", "topic", "partition", "key", "value", "serialized_key", "serialized_value"], (
        "aiokafka changed its partitioner call: fix streams.kafka_batches._partition_of")
    assert list(inspect.signature(AIOKafkaProducer.send_batch).parameters) == [
        "self", "batch", "topic", "partition"]
    assert "return self._message_accumulator.create_builder(" in inspect.getsource(
        AIOKafkaProducer.create_batch)


def test_take_events_still_acks_its_batch_in_a_finally_by_reference_count() -> None:
    from faust.streams import Stream
    from faust.types.tuples import Message

    source = inspect.getsource(Stream.take_events)
    finally_part = source[source.index("yield list(events)"):]
    assert "finally:" in finally_part and "await self.ack(event)" in finally_part, (
        "take_events no longer acks in its finally: streams.pipeline.agent.consume's extra "
        "reference may be unneeded, or wrong")
    ack = inspect.getsource(Message.ack)
    assert "if not self.decref(n):" in ack, "acks no longer count references"
    assert hasattr(Message, "incref") and hasattr(Message, "decref")


def test_take_batches_mirrors_the_take_events_upstream_has() -> None:
    import hashlib

    from faust.streams import Stream

    from streams.faust_tuning import TAKE_EVENTS_SHA256

    take_events = getattr(Stream.take_events, "__wrapped__", Stream.take_events)
    source = inspect.getsource(take_events)
    assert hashlib.sha256(source.encode()).hexdigest() == TAKE_EVENTS_SHA256, (
        "faust changed Stream.take_events: compare it with streams.faust_tuning.take_batches, "
        "carry the change over, and update TAKE_EVENTS_SHA256")
    for internal in ("add_processor", "_enable_passive", "wait_for_stopped", "ack", "crash"):
        assert callable(getattr(Stream, internal)), internal
    init = inspect.getsource(Stream.__init__)
    assert "self._processors" in init and "self._active_agens" in init


def _upstream_create_topic() -> Any:
    method = Producer.create_topic
    return getattr(method, "__wrapped__", method)


def test_faust_still_refreshes_every_topic_after_each_declaration() -> None:
    source = inspect.getsource(_upstream_create_topic())
    assert "await producer.client.force_metadata_update()" in source, (
        "faust's create_topic no longer forces a metadata update: drop "
        "patch_declared_topic_metadata")
    # The shim passes the same arguments on to the transport's declaration.
    assert "cast(Transport, self.transport)._create_topic(" in source
    assert "timeout=int(want_seconds(timeout) * 1000.0)," in source
    assert "_retention = int(want_seconds(retention) * 1000.0) if retention else None" in source
    parameters = list(inspect.signature(_upstream_create_topic()).parameters)
    assert parameters == ["self", "topic", "partitions", "replication", "config", "timeout",
                          "retention", "compacting", "deleting", "ensure_created"]


def test_aiokafka_asks_for_every_topic_until_its_client_tracks_one() -> None:
    # What makes Faust's refresh cost one answer per topic on the broker, and add_topic cheap.
    assert "MetadataRequest(list(topics) if topics else None)" in inspect.getsource(
        AIOKafkaClient._metadata_update)
    assert "self._topics.add(topic)" in inspect.getsource(AIOKafkaClient.add_topic)



def test_aiokafka_still_leaves_partitions_without_a_commit_where_they_are() -> None:
    source = inspect.getsource(AIOKafkaConsumer.seek_to_committed)
    assert "if offset and offset > 0:" in source, (
        "aiokafka's seek_to_committed changed what it seeks: re-check "
        "patch_seek_uncommitted_partitions")


def test_faust_still_drops_fetched_records_and_relies_on_the_seek_back() -> None:
    from faust.transport.consumer import Consumer

    getmany = inspect.getsource(Consumer.getmany)
    assert "Seek back to committed offsets" in getmany
    assert "await self.perform_seek()" in getmany
    assert "await self.seek_to_committed()" in inspect.getsource(Consumer.perform_seek)
    method = AIOKafkaConsumerThread.seek_to_committed
    upstream: Any = getattr(method, "__wrapped__", method)
    assert "call_thread(self._ensure_consumer().seek_to_committed)" in inspect.getsource(
        upstream)


@pytest.mark.usefixtures("unpatched")
def test_seek_patch_replaces_the_thread_method_once() -> None:
    upstream = AIOKafkaConsumerThread.seek_to_committed
    faust_tuning.patch_seek_uncommitted_partitions()
    faust_tuning.patch_seek_uncommitted_partitions()  # again: replaces, does not stack wrappers
    patched: Any = AIOKafkaConsumerThread.seek_to_committed
    assert patched is not upstream and patched.__wrapped__ is upstream


def test_faust_still_commits_over_a_single_record_missing_at_the_head() -> None:
    method = Consumer._new_offset
    upstream: Any = getattr(method, "__wrapped__", method)
    source = inspect.getsource(upstream)
    assert "if min(acked) - committed_offset > 1:" in source, (
        "faust changed its head-gap guard (faust-streaming #606): re-check "
        "patch_commit_only_from_the_committed_head")
    assert "candidates = gap_for_tp.overlap(0, max_offset)" in source


def _offsets(committed: int | None, acked: list[int],
             gaps: tuple[tuple[int, int], ...] = ()) -> Any:
    """The attributes `Consumer._new_offset` reads, for one partition."""
    from collections import defaultdict
    from types import SimpleNamespace

    from intervaltree import IntervalTree

    tp = TP("t", 0)
    tree = IntervalTree()
    for begin, end in gaps:
        tree.addi(begin, end)
    return tp, SimpleNamespace(_acked={tp: list(acked)}, _committed_offset={tp: committed},
                               _gap=defaultdict(IntervalTree, {tp: tree}),
                               _acked_index=defaultdict(set, {tp: set(acked)}),
                               _read_offset={tp: max(acked, default=None)},
                               _unacked_messages=[],
                               app=SimpleNamespace(topics=SimpleNamespace(_topics=[])))


@pytest.mark.usefixtures("unpatched")
def test_the_commit_waits_for_the_record_at_the_committed_offset() -> None:
    upstream = Consumer._new_offset
    tp, consumer = _offsets(2585, [2586, 2587, 2588, 2589])
    assert upstream(consumer, tp) == 2590  # type: ignore[arg-type]  # #606: 2585 is lost
    faust_tuning.patch_commit_only_from_the_committed_head()
    faust_tuning.patch_commit_only_from_the_committed_head()  # again: replaces the wrapper
    patched: Any = Consumer._new_offset
    assert patched.__wrapped__ is upstream
    tp, consumer = _offsets(2585, [2586, 2587, 2588, 2589])
    assert patched(consumer, tp) is None
    # Records Faust filled in as a gap (not delivered) do not make the head look done either.
    tp, consumer = _offsets(100, [105, 106], gaps=((101, 106),))
    assert patched(consumer, tp) is None
    # Acked from the head on: committed as before, up to the first hole.
    tp, consumer = _offsets(2585, [2585, 2586, 2588])
    assert patched(consumer, tp) == 2587
    # A gap that starts at the head counts as Faust counts it.
    tp, consumer = _offsets(100, [103, 104], gaps=((100, 103),))
    assert patched(consumer, tp) == 105
    # No committed offset yet: Faust's own rule.
    tp, consumer = _offsets(None, [7, 8])
    assert patched(consumer, tp) == 9


def test_faust_seeks_in_the_consumer_thread_only_through_seek_wait() -> None:
    # The re-read of a hole must not use `Consumer.seek`: it calls aiokafka from the app's loop.
    assert "self._thread.seek(partition, offset)" in inspect.getsource(
        ThreadDelegateConsumer._seek)
    assert "await self.call_thread(self._seek_wait, consumer, partitions)" in inspect.getsource(
        AIOKafkaConsumerThread.seek_wait), "re-check _hole_outlasted_a_reread's seek"


@pytest.mark.usefixtures("unpatched")
async def test_a_hole_at_the_head_that_lasts_is_read_again_from_the_committed_offset(
        monkeypatch: pytest.MonkeyPatch) -> None:
    faust_tuning.patch_commit_only_from_the_committed_head()
    patched: Any = Consumer._new_offset
    sought: list[tuple[Any, int]] = []

    async def seek_wait(partitions: dict[Any, int]) -> None:
        sought.extend(partitions.items())

    tp, consumer = _offsets(2585, [2586, 2587])
    consumer.seek_wait = seek_wait
    assert patched(consumer, tp) is None
    await asyncio.sleep(0)
    assert sought == []  # a hole just seen: the head may still come
    monkeypatch.setattr(faust_tuning, "HEAD_HOLE_REREAD_SECONDS", 0.0)
    assert patched(consumer, tp) is None
    await asyncio.sleep(0)
    assert sought == [(tp, 2585)]  # lasted: read again from the committed offset
    # The head came: committed as usual, and the hole is forgotten.
    consumer._acked[tp].append(2585)
    assert patched(consumer, tp) == 2588
    assert tp not in consumer._head_holes
    await asyncio.sleep(0)
    assert sought == [(tp, 2585)]


@pytest.mark.usefixtures("unpatched")
async def test_a_hole_a_reread_does_not_fill_is_counted_done(
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    # Another producer's transaction marker at offset 100: no fetch ever delivers it.
    faust_tuning.patch_commit_only_from_the_committed_head()
    patched: Any = Consumer._new_offset
    sought: list[tuple[Any, int]] = []

    async def seek_wait(partitions: dict[Any, int]) -> None:
        sought.extend(partitions.items())

    monkeypatch.setattr(faust_tuning, "HEAD_HOLE_REREAD_SECONDS", 0.0)
    tp, consumer = _offsets(100, [101, 102])
    consumer.seek_wait = seek_wait
    assert patched(consumer, tp) is None  # first: read again
    await asyncio.sleep(0)
    assert sought == [(tp, 100)]
    # Not yet past the hole after the seek (the read offset is back at it): wait.
    consumer._read_offset[tp] = 100
    assert patched(consumer, tp) is None
    consumer._read_offset[tp] = 102
    # Its record came after all and is being processed, or waits in a stream's buffer: wait.
    record = SimpleNamespace(tp=tp, offset=100)
    consumer._unacked_messages = [record]
    assert patched(consumer, tp) is None
    consumer._unacked_messages = []
    buffer: asyncio.Queue[Any] = asyncio.Queue()
    buffer.put_nowait(SimpleNamespace(message=record))
    consumer.app.topics._topics = [SimpleNamespace(_queue=buffer)]
    assert patched(consumer, tp) is None
    consumer.app.topics._topics = []
    assert sought == [(tp, 100)]  # one re-read only
    with caplog.at_level(logging.WARNING):
        assert patched(consumer, tp) == 103  # still missing after the re-read: counted done
    assert "consumer.head_hole_accepted" in caplog.text and "missing=100-100" in caplog.text
    assert tp not in consumer._head_holes
    # A hole at a new committed offset starts over: read again first.
    tp2, other = _offsets(200, [202])
    other.seek_wait = seek_wait
    assert patched(other, tp2) is None
    await asyncio.sleep(0)
    assert sought[-1] == (tp2, 200)


def test_aiokafka_still_keeps_the_time_of_its_last_good_heartbeat_to_itself() -> None:
    routine = inspect.getsource(GroupCoordinator._heartbeat_routine)
    assert "last_ok_heartbeat = time.monotonic()" in routine, (
        "aiokafka changed how it times heartbeats: re-check patch_group_contact")
    assert "success = await self._do_heartbeat()" in routine
    joined = GroupCoordinator._on_join_complete
    upstream: Any = getattr(joined, "__wrapped__", joined)
    assert list(inspect.signature(upstream).parameters) == [
        "self", "generation", "member_id", "protocol", "member_assignment_bytes"]


class _Coordinator:
    """What `GroupCoordinator._do_heartbeat` and `_on_join_complete` read first."""

    group_id, generation, member_id = "g", 3, "m"

    def __init__(self, error_code: int | None) -> None:
        self.error_code = error_code

    async def _send_req(self, request: object) -> Any:
        from types import SimpleNamespace

        if self.error_code is None:
            raise KafkaConnectionError("the network is cut")
        return SimpleNamespace(error_code=self.error_code)

    def reset_generation(self) -> None:
        """Called by aiokafka for an unknown member."""

    def _lookup_assignor(self, protocol: str) -> Any:
        from types import SimpleNamespace

        return SimpleNamespace(on_assignment=lambda assignment: None)


@pytest.mark.usefixtures("unpatched")
async def test_group_contact_notes_answered_heartbeats_and_joins_only() -> None:
    contact = faust_tuning.GroupContact
    faust_tuning.patch_group_contact()
    faust_tuning.patch_group_contact()  # again: replaces, does not stack wrappers
    patched: Any = GroupCoordinator._do_heartbeat
    assert patched.__wrapped__.__name__ == "_do_heartbeat"
    assert not hasattr(patched.__wrapped__, "__wrapped__")
    assert contact.confirmed_at is None and not contact.lost(10.0)
    before = time.monotonic()
    assert await patched(_Coordinator(0)) is True
    confirmed = contact.confirmed_at
    assert confirmed is not None and before <= confirmed <= time.monotonic()
    # Cut off (no answer) or no longer a member (25: unknown member id): nothing noted.
    assert await patched(_Coordinator(None)) is False
    assert await patched(_Coordinator(25)) is False
    assert contact.confirmed_at == confirmed
    assert not contact.lost(10.0, now=confirmed + 5.0)
    assert contact.lost(10.0, now=confirmed + 5.1)
    # A join is noted once aiokafka's own handling of it is done, not when it fails.
    joined: Any = GroupCoordinator._on_join_complete
    with pytest.raises(Exception):  # noqa: B017 (a fake coordinator: any failure)
        await joined(_Coordinator(0), 4, "m", "faust", b"")
    assert contact.confirmed_at == confirmed


def _upstream_recovery_source(method: Any) -> str:
    """The method's source on one line (a mode `@Service.task` holds its function as `fun`)."""
    method = getattr(method, "fun", method)
    return " ".join(inspect.getsource(getattr(method, "__wrapped__", method)).split())


def test_faust_recovery_still_seeks_the_actives_between_their_highwaters_and_reading_them() -> None:
    source = _upstream_recovery_source(Recovery._restart_recovery)
    steps = [
        '_build_highwaters)( consumer, assigned_active_tps, active_highwaters, "active" )',
        '_build_offsets)( consumer, assigned_active_tps, active_offsets, "active" )',
        '_seek_offsets)( consumer, assigned_active_tps, active_offsets, "active" )',
        "if self.need_recovery():",
    ]
    at = [source.find(step) for step in steps]
    assert -1 not in at and at == sorted(at), (
        "faust's recovery changed the order the bulk read relies on (highwaters, offsets, seek, "
        f"then read): re-check patch_bulk_recovery. Found at {at}")
    # Each step is bounded by broker_request_timeout; the bulk read takes a share of it.
    assert "timeout=self.app.conf.broker_request_timeout" in source


def test_faust_recovery_still_reads_only_what_is_past_the_recovered_offsets() -> None:
    # Offsets moved to the highwater leave Faust nothing to read, and a record at or below the
    # recovered offset (Faust seeks to it, not past it) is not applied twice.
    remaining = _upstream_recovery_source(Recovery.active_remaining)
    assert "tp: highwater - offsets[tp]" in remaining
    assert "return any(v > 0 for v in self.active_remaining().values())" in (
        _upstream_recovery_source(Recovery.need_recovery))
    slurp = _upstream_recovery_source(Recovery._slurp_changelogs)
    assert "if seen_offset is None or offset > seen_offset: offsets[tp] = offset" in slurp
    assert "table.apply_changelog_batch(buf)" in slurp


def test_faust_memory_store_still_reads_only_key_value_and_the_raw_value_and_partition() -> None:
    # What `bulk_recovery._Change` gives it.
    source = _upstream_recovery_source(MemoryStore._create_batch_iterator)
    assert "key = to_key(event.key)" in source
    assert "if event.message.value is None: mark_as_delete(key)" in source
    assert "self._key_partition[key] = event.message.partition" in source
    assert "yield key, to_value(event.value)" in source


@pytest.mark.usefixtures("unpatched")
def test_bulk_recovery_patch_wraps_the_seek_once() -> None:
    upstream = Recovery._seek_offsets
    faust_tuning.patch_bulk_recovery()
    faust_tuning.patch_bulk_recovery()  # again: replaces, does not stack wrappers
    patched: Any = Recovery._seek_offsets
    assert patched is not upstream and patched.__wrapped__ is upstream


def test_faust_buffer_flush_still_gives_up_after_a_tenth_of_a_second_without_a_send() -> None:
    flush_atmost = inspect.getsource(ProducerBuffer.flush_atmost)
    assert "await asyncio.wait_for(self.message_sent.wait(), timeout=0.1)" in flush_atmost
    assert "return flushed_messages" in flush_atmost, (
        "faust changed how its producer buffer flushes: re-check patch_producer_buffer_flush")
    upstream: Any = getattr(ProducerBuffer.flush, "__wrapped__", ProducerBuffer.flush)
    assert "await self.flush_atmost(None)" in inspect.getsource(upstream)
    # The flushes that must cover every table write: before a commit, at a revocation.
    commit = inspect.getsource(Consumer._commit_offsets)
    assert commit.index("await self.app.producer.flush()") < commit.index(
        "did_commit = await self._commit(committable_offsets)")
    assert "await self.buffer.flush()" in inspect.getsource(Producer.flush)
    # What the patch waits for: the buffered FutureMessages, resolved on Kafka's answer.
    handle = inspect.getsource(ProducerBuffer._handle_pending.fun)
    assert "msg = await get_pending()" in handle
    assert "send_pending = self._send_pending" in handle
    assert "message.set_result(res)" in inspect.getsource(Topic._on_published)


class _SlowBuffer:
    """What Faust's buffer flush reads: records handed over and acknowledged every 0.25 s."""

    state = "running"
    flush_atmost = ProducerBuffer.flush_atmost

    def __init__(self, size: int) -> None:
        self.pending: asyncio.Queue[asyncio.Future[None]] = asyncio.Queue()
        self.message_sent = asyncio.Event()
        self.acked: list[asyncio.Future[None]] = []
        for _ in range(size):
            self.pending.put_nowait(asyncio.get_running_loop().create_future())

    @property
    def size(self) -> int:
        return self.pending.qsize()

    async def send_slowly(self) -> None:
        while self.size:
            await asyncio.sleep(0.25)
            fut = self.pending.get_nowait()
            self.message_sent.set()
            await asyncio.sleep(0.05)  # Kafka's answer comes after the hand-over
            fut.set_result(None)
            self.acked.append(fut)


@pytest.mark.usefixtures("unpatched")
async def test_a_flush_waits_until_what_the_buffer_held_is_acknowledged() -> None:
    upstream = ProducerBuffer.flush
    buffer = _SlowBuffer(3)
    sending = asyncio.create_task(buffer.send_slowly())
    await upstream(buffer)  # type: ignore[arg-type]
    assert len(buffer.acked) == 0  # Faust's flush: nothing left in 0.1 s, so it returned
    faust_tuning.patch_producer_buffer_flush()
    faust_tuning.patch_producer_buffer_flush()  # again: replaces the wrappers
    patched: Any = ProducerBuffer.flush
    assert patched.__wrapped__ is upstream
    later = asyncio.get_running_loop().create_future()
    flushing = asyncio.create_task(patched(buffer))
    await asyncio.sleep(0)
    buffer.pending.put_nowait(later)  # buffered after the flush began: not waited for
    await flushing
    assert len(buffer.acked) == 3 and not later.done()
    await sending


@pytest.mark.usefixtures("unpatched")
async def test_a_flush_gives_up_after_its_bound(monkeypatch: pytest.MonkeyPatch,
                                                caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setattr(faust_tuning, "PRODUCER_FLUSH_SECONDS", 0.3)
    faust_tuning.patch_producer_buffer_flush()
    buffer = _SlowBuffer(1)  # nothing sends it
    began = time.monotonic()
    with caplog.at_level(logging.WARNING):
        await ProducerBuffer.flush(buffer)  # type: ignore[arg-type]
    assert 0.3 <= time.monotonic() - began < 2
    assert "producer.flush_incomplete pending=1" in caplog.text


def test_faust_still_fills_skipped_offsets_in_as_a_gap_its_commit_counts_as_done() -> None:
    drain = inspect.getsource(Consumer._drain_messages)
    assert "await self._add_gap(tp, r_offset + 1, offset)" in drain, (
        "faust changed how it records skipped offsets: re-check patch_no_gap_filling")
    upstream: Any = getattr(Consumer._new_offset, "__wrapped__", Consumer._new_offset)
    assert "gap_for_tp: IntervalTree = self._gap[tp]" in inspect.getsource(upstream)


@pytest.mark.usefixtures("unpatched")
async def test_a_record_faust_skipped_is_not_committed_over(
        caplog: pytest.LogCaptureFixture) -> None:
    # The three-worker test's case: 79 and 81-84 delivered and acked, 80 dropped.
    tp, consumer = _offsets(79, [79, 81, 82, 83, 84])
    await Consumer._add_gap(consumer, tp, 80, 81)  # type: ignore[arg-type]
    assert Consumer._new_offset(consumer, tp) == 82  # type: ignore[arg-type]  # over 80
    faust_tuning.patch_no_gap_filling()
    faust_tuning.patch_no_gap_filling()  # again: replaces the wrapper
    tp, consumer = _offsets(79, [79, 81, 82, 83, 84])
    with caplog.at_level(logging.WARNING):
        await Consumer._add_gap(consumer, tp, 80, 81)  # type: ignore[arg-type]
    assert not consumer._gap[tp]
    assert "consumer.gap_not_filled" in caplog.text and "missing=80-80" in caplog.text
    assert Consumer._new_offset(consumer, tp) == 80  # type: ignore[arg-type]  # up to the hole
