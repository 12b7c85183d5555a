"""A restarted worker's tables read back from their changelog partitions in bulk.

Why it exists: Faust recovers a table by passing every changelog record through its worker
consumer one at a time: the fetcher's `wait_first` (four futures a record), the conductor, a
queue, and `Recovery._slurp_changelogs`, which builds a `Counter` of what remains after every
record. Measured (docs/reliability.md, "Restart with a million keys"): about 275 us of CPU a
record, minutes for 1,000,000 keys. `recover` reads the same records with a consumer of its own,
decodes and applies them a fetched batch at a time. `faust_tuning.patch_bulk_recovery` runs it for
a worker's active changelog partitions before Faust's recovery reads them, which then finds
nothing left to read.

What it must not do: change what a recovered table holds. Every record after the partition's
recovered offset up to its highwater is applied, in offset order, tombstones included, as
Faust's recovery decodes and applies it (below); records past the highwater are left to Faust.
It never joins the consumer group nor commits an offset, and it moves the recovered offset only
past records it applied, so Faust's recovery can go on from wherever it stopped.

Two costs besides Faust's are avoided, both measured (docs/reliability.md):
- Python's cyclic garbage collector is paused while the tables fill (each of its full
  collections walks every state already loaded: at CPython's default thresholds decoding a
  state cost 3-4 times as much; `common.gc_policy` makes the worker's young collections rare,
  not the full ones cheaper), and what is alive afterwards is frozen out of its reach
  (`gc.freeze`, as `gc_policy` freezes the worker once it is built): the first collections
  after the load walked all of it again and stalled the worker for seconds, and every later
  full collection would. States hold no reference cycles, so the collector has nothing to find
  in them; a cycle among objects alive at the freeze that is dropped later is not reclaimed.
- The tables `streams.state.KeyedState` declares (str keys sent raw, values in the wire codec,
  in-memory stores) are decoded as Faust's registry decodes them (`Registry.loads_key` /
  `loads_value`: the key's UTF-8 text, the value's codec result) and set in the store as
  Faust's memory store sets them, without the generic path of either (~10 us a record, and
  an event and a message object for each); every other table goes through the topic's own
  schema and the table's own `apply_changelog_batch`.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping, MutableMapping
from contextlib import contextmanager
from typing import Any

import aiokafka
from aiokafka.structs import ConsumerRecord
from faust.exceptions import KeyDecodeError, ValueDecodeError
from faust.stores.memory import Store as MemoryStore
from faust.transport.drivers.aiokafka import credentials_to_aiokafka_auth, server_list
from faust.types import TP, AppT
from faust.types.tables import CollectionT

from schemas import codec

log = logging.getLogger(__name__)

RECORDS_PER_APPLY = 2000
"""Records decoded and applied between two returns to the event loop (~20-40 ms of CPU)."""

PARTITION_FETCH_BYTES = 8 * 1024 * 1024
"""Bytes fetched per partition per request: ~8,000 state records of ~1 KB."""


def _consumer(app: AppT) -> aiokafka.AIOKafkaConsumer:
    """A consumer outside the group, on the worker's brokers and credentials."""
    conf = app.conf
    transport: Any = app.transport
    return aiokafka.AIOKafkaConsumer(
        client_id=f"{conf.broker_client_id}-bulk-recovery",
        bootstrap_servers=server_list(transport.url, transport.default_port),
        group_id=None,
        enable_auto_commit=False,
        # An offset below the log's start (records removed by compaction or retention) reads
        # from the start, as Faust's recovery does (`Recovery._build_offsets`).
        auto_offset_reset="earliest",
        max_partition_fetch_bytes=PARTITION_FETCH_BYTES,
        request_timeout_ms=int(conf.broker_request_timeout * 1000),
        **credentials_to_aiokafka_auth(conf.broker_credentials, conf.ssl_context),
    )


Apply = Callable[[TP, list[ConsumerRecord[bytes, bytes]]], Awaitable[int]]
"""Applies a partition's records, in offset order, to its table; answers how many it applied
(an undecodable record is logged and skipped, as Faust's recovery does)."""

BLESSED_KEY = "__faust"
"""A value holding this key names a Faust model to rebuild it as (`Model._maybe_namespace`)."""


def _skipped(tp: TP, record: ConsumerRecord[bytes, bytes], exc: Exception) -> None:
    log.warning("recovery.undecodable topic=%s partition=%d offset=%d error=%r",
                tp.topic, tp.partition, record.offset, exc)


def _faust_applier(app: AppT, table: CollectionT) -> Apply:
    """Faust's own decoding (the conductor's) and the table's own `apply_changelog_batch`."""
    schema: Any = table.changelog_topic.schema  # a faust Schema (SchemaT declares no compile)
    decode = schema.compile(app)
    to_message = app.consumer._to_message  # type: ignore[attr-defined]

    async def apply(tp: TP, records: list[ConsumerRecord[bytes, bytes]]) -> int:
        events = []
        for record in records:
            try:
                events.append(await decode(to_message(tp, record), propagate=True))
            except (KeyDecodeError, ValueDecodeError) as exc:
                _skipped(tp, record, exc)
        if events:
            table.apply_changelog_batch(events)
        return len(events)

    return apply


def _state_of(record: ConsumerRecord[bytes, bytes]) -> tuple[str | None, Any]:
    """Key and value as Faust's registry decodes a `KeyedState` record (`Registry.loads_key`
    with key type str from raw: the UTF-8 text; `loads_value` with no value type: the codec's)."""
    try:
        key = None if record.key is None else record.key.decode()
    except UnicodeDecodeError as exc:
        raise KeyDecodeError(str(exc)) from exc
    try:
        value = None if record.value is None else codec.loads(record.value)
    except ValueError as exc:  # orjson's JSONDecodeError; Faust wraps it the same way
        raise ValueDecodeError(str(exc)) from exc
    return key, value


def _state_applier(app: AppT, table: CollectionT) -> Apply | None:
    """Direct decoding into a `KeyedState` table's in-memory store; None for any other table.

    What Faust's memory store does with each event (`Store._create_batch_iterator`: the value
    set and the key's partition noted; a tombstone removes both), one record after the other.
    Faust applies a batch's values first and then removes the batch's tombstoned keys whose value
    is falsy: the same, except for a falsy value after a tombstone of its key in one batch,
    which a `KeyedState` value (a dict holding its partition) never is.
    """
    schema = table.changelog_topic.schema
    store = getattr(table, "data", None)  # a Collection's store (CollectionT declares none)
    if not (isinstance(store, MemoryStore) and schema.key_type is str
            and schema.key_serializer == "raw" and schema.value_type is None
            and schema.value_serializer == codec.CODEC_NAME):
        return None
    data, partitions = store.data, store._key_partition
    faust_apply = _faust_applier(app, table)

    async def apply(tp: TP, records: list[ConsumerRecord[bytes, bytes]]) -> int:
        applied = 0
        for record in records:
            try:
                key, value = _state_of(record)
            except (KeyDecodeError, ValueDecodeError) as exc:
                _skipped(tp, record, exc)
                continue
            if value is None:
                data.pop(key, None)
                partitions.pop(key, None)
            elif isinstance(value, dict) and BLESSED_KEY in value:
                applied += await faust_apply(tp, [record])  # a model: Faust rebuilds it
                continue
            else:
                data[key] = value
                partitions[key] = record.partition
            applied += 1
        return applied

    return apply


@contextmanager
def _kept_from_the_collector() -> Iterator[None]:
    """No automatic cyclic garbage collection inside; afterwards what is alive is frozen (left
    out of every later collection) and collection is restored as it was found."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if enabled:
            gc.enable()


async def recover(app: AppT, tables: Mapping[TP, CollectionT], offsets: MutableMapping[TP, int],
                  highwaters: Mapping[TP, int], budget_seconds: float) -> int:
    """Apply each partition's records after `offsets[tp]` up to `highwaters[tp]` to its table.

    `offsets` and `highwaters` are Faust's recovery bookkeeping: the offset last applied (-1 or
    None: none) and the last offset of the partition (-1: empty). `offsets[tp]` is moved past
    each applied batch, and set to the highwater once the partition is read to its end. Stops
    after `budget_seconds` at a batch boundary, whatever is left; returns the records applied.
    """
    wanted = {tp: highwater for tp, highwater in highwaters.items()
              if tp in tables and highwater is not None and highwater >= 0
              and (offsets.get(tp) is None or offsets[tp] < highwater)}
    if not wanted:
        return 0
    deadline = time.monotonic() + budget_seconds
    began = time.process_time()
    appliers = {tp: _state_applier(app, tables[tp]) or _faust_applier(app, tables[tp])
                 for tp in wanted}
    consumer = _consumer(app)
    await consumer.start()
    applied = 0
    try:
        partitions = {tp: aiokafka.TopicPartition(tp.topic, tp.partition) for tp in wanted}
        consumer.assign(list(partitions.values()))
        for tp, partition in partitions.items():
            offset = offsets.get(tp)
            consumer.seek(partition, 0 if offset is None or offset < 0 else offset + 1)
        with _kept_from_the_collector():
            applied = await _read(consumer, partitions, wanted, appliers, offsets, deadline)
    finally:
        await consumer.stop()
    log.info("recovery.bulk records=%d cpu_s=%.1f left_partitions=%d", applied,
             time.process_time() - began, len(wanted))
    return applied


async def _read(consumer: aiokafka.AIOKafkaConsumer,
                partitions: Mapping[TP, aiokafka.TopicPartition], wanted: dict[TP, int],
                appliers: Mapping[TP, Apply], offsets: MutableMapping[TP, int],
                deadline: float) -> int:
    """`recover`'s loop: fetch, apply, move the offsets; drops read partitions from `wanted`."""
    applied = 0
    while wanted and time.monotonic() < deadline:
        fetched = await consumer.getmany(*(partitions[tp] for tp in wanted),
                                         timeout_ms=1000, max_records=RECORDS_PER_APPLY)
        for partition, batch in fetched.items():
            tp = TP(partition.topic, partition.partition)
            highwater = wanted[tp]
            records = [record for record in batch if record.offset <= highwater]
            if records:
                applied += await appliers[tp](tp, records)
                offsets[tp] = records[-1].offset
        for tp in list(wanted):
            # Read to its end: what is left up to the highwater holds no record (control
            # batches of transactions, say), as Faust's recovery concludes for aborted ones.
            if await consumer.position(partitions[tp]) > wanted[tp]:
                offsets[tp] = wanted.pop(tp)
        await asyncio.sleep(0)
    return applied
