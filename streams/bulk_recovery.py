"""A restarted worker's tables read back from their changelog partitions in bulk.

Why it exists: Faust recovers a table by passing every changelog record through its worker
consumer one at a time: the fetcher's `wait_first` (four futures a record), the conductor, a
queue, and `Recovery._slurp_changelogs`, which builds a `Counter` of what remains after every
record. Measured (docs/reliability.md, "Restart with a million keys"): about 250 us of CPU a
record, minutes for 1,000,000 keys. `recover` reads the same records with a consumer of its own,
decodes them with the changelog topic's own schema and hands them to the table's own
`apply_changelog_batch` a fetched batch at a time. `faust_tuning.patch_bulk_recovery` runs it for
a worker's active changelog partitions before Faust's recovery reads them, which then finds
nothing left to read.

What it must not do: change what a recovered table holds. Every record after the partition's
recovered offset up to its highwater is applied, in offset order, tombstones included, by the
same decoder and the same apply as Faust's recovery; records past the highwater are left to
Faust. It never joins the consumer group nor commits an offset, and it moves the recovered
offset only past records it applied, so Faust's recovery can go on from wherever it stopped.

Two costs besides Faust's are avoided, both measured (docs/reliability.md):
- Python's cyclic garbage collector is paused while the tables fill (each of its collections
  walks every state already loaded: decoding a state cost 3-4 times as much), and what is
  alive afterwards is frozen out of its reach (`gc.freeze`): the first collections after the
  load walked all of it again and stalled the worker for seconds, and every later full
  collection would. States hold no reference cycles, so the collector has nothing to find in
  them; a cycle among objects alive at the freeze that is dropped later is not reclaimed.
- The tables `streams.state.KeyedState` declares (str keys sent raw, values in the wire codec,
  in-memory stores) are decoded as Faust's registry decodes them (`Registry.loads_key` /
  `loads_value`: the key's UTF-8 text, the value's codec result) without its generic path,
  which cost ~10 us a record; every other table goes through the topic's own schema.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time
from collections.abc import Callable, Iterator, Mapping, MutableMapping
from contextlib import contextmanager
from typing import Any, NamedTuple

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


Decode = Callable[[TP, ConsumerRecord[bytes, bytes]], Any]
"""A changelog record to the event the table's `apply_changelog_batch` takes (None: skip it)."""

BLESSED_KEY = "__faust"
"""A value holding this key names a Faust model to rebuild it as (`Model._maybe_namespace`)."""


class _Change(NamedTuple):
    """What a memory store's `apply_changelog_batch` reads of an event: key, value, and the
    record's raw value (None: a tombstone) and partition as `message`."""

    key: str | None
    value: Any
    message: ConsumerRecord[bytes, bytes]


def _faust_decoder(app: AppT, table: CollectionT) -> Decode:
    """Faust's own decoding of the table's changelog records (the conductor's)."""
    schema: Any = table.changelog_topic.schema  # a faust Schema (SchemaT declares no compile)
    decode = schema.compile(app)
    to_message = app.consumer._to_message  # type: ignore[attr-defined]

    async def event(tp: TP, record: ConsumerRecord[bytes, bytes]) -> Any:
        return await decode(to_message(tp, record), propagate=True)

    return event


def _state_decoder(app: AppT, table: CollectionT) -> Decode | None:
    """The direct decoding of a `KeyedState` table's records; None for any other table."""
    schema = table.changelog_topic.schema
    store = getattr(table, "data", None)  # a Collection's store (CollectionT declares none)
    if not (isinstance(store, MemoryStore) and schema.key_type is str
            and schema.key_serializer == "raw" and schema.value_type is None
            and schema.value_serializer == codec.CODEC_NAME):
        return None
    faust_decode = _faust_decoder(app, table)

    async def change(tp: TP, record: ConsumerRecord[bytes, bytes]) -> Any:
        raw = record.value
        try:
            value = None if raw is None else codec.loads(raw)
        except ValueError as exc:  # orjson's JSONDecodeError; Faust wraps it the same way
            raise ValueDecodeError(str(exc)) from exc
        if isinstance(value, dict) and BLESSED_KEY in value:
            return await faust_decode(tp, record)  # a model: Faust rebuilds it
        try:
            key = None if record.key is None else record.key.decode()
        except UnicodeDecodeError as exc:
            raise KeyDecodeError(str(exc)) from exc
        return _Change(key, value, record)

    return change


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
    decoders = {tp: _state_decoder(app, tables[tp]) or _faust_decoder(app, tables[tp])
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
            applied = await _read(consumer, partitions, wanted, decoders, tables, offsets,
                                  deadline)
    finally:
        await consumer.stop()
    log.info("recovery.bulk records=%d cpu_s=%.1f left_partitions=%d", applied,
             time.process_time() - began, len(wanted))
    return applied


async def _read(consumer: aiokafka.AIOKafkaConsumer,
                partitions: Mapping[TP, aiokafka.TopicPartition], wanted: dict[TP, int],
                decoders: Mapping[TP, Decode], tables: Mapping[TP, CollectionT],
                offsets: MutableMapping[TP, int], deadline: float) -> int:
    """`recover`'s loop: fetch, decode, apply, move the offsets; drops read partitions from
    `wanted`."""
    applied = 0
    while wanted and time.monotonic() < deadline:
        fetched = await consumer.getmany(*(partitions[tp] for tp in wanted),
                                         timeout_ms=1000, max_records=RECORDS_PER_APPLY)
        for partition, records in fetched.items():
            tp = TP(partition.topic, partition.partition)
            highwater = wanted[tp]
            decode = decoders[tp]
            events = []
            for record in records:
                if record.offset > highwater:
                    break
                try:
                    events.append(await decode(tp, record))
                except (KeyDecodeError, ValueDecodeError) as exc:
                    # Faust's recovery logs such a record and goes on without it too.
                    log.warning("recovery.undecodable topic=%s partition=%d offset=%d "
                                "error=%r", tp.topic, tp.partition, record.offset, exc)
            if events:
                tables[tp].apply_changelog_batch(events)
                applied += len(events)
            if records:
                offsets[tp] = min(records[-1].offset, highwater)
        for tp in list(wanted):
            # Read to its end: what is left up to the highwater holds no record (control
            # batches of transactions, say), as Faust's recovery concludes for aborted ones.
            if await consumer.position(partitions[tp]) > wanted[tp]:
                offsets[tp] = wanted.pop(tp)
        await asyncio.sleep(0)
    return applied
