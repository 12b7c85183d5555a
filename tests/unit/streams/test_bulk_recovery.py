"""The bulk recovery builds the table Faust's own decoding and `apply_changelog_batch` build from
the same changelog records (`streams.bulk_recovery`)."""

from __future__ import annotations

import gc
import logging
from typing import Any

import orjson
import pytest
from aiokafka.structs import ConsumerRecord
from faust.types import TP

from streams import bulk_recovery
from streams.app import app
from streams.tables import node_rollups, workers

TOPIC = workers.table.changelog_topic.get_topic_name()
TP1 = TP(TOPIC, 1)


def _record(offset: int, key: bytes | None, value: bytes | None) -> ConsumerRecord[bytes, bytes]:
    return ConsumerRecord(topic=TOPIC, partition=1, offset=offset, timestamp=1_700_000_000_000,
                          timestamp_type=0, key=key, value=value, checksum=None,
                          serialized_key_size=len(key or b""),
                          serialized_value_size=len(value or b""), headers=())


def _state(worker_id: str, **fields: Any) -> bytes:
    return orjson.dumps({"worker_id": worker_id, "_partition": 1, **fields})


RECORDS = [
    _record(0, b"w-1", _state("w-1", cpu=1.5)),
    _record(1, b"w-2", _state("w-2", tasks=[{"id": "t"}])),
    _record(2, b"w-1", _state("w-1", cpu=2.5)),
    _record(3, b"w-2", None),  # tombstone
    _record(4, b"w-3", _state("w-3")),
    _record(5, b"w-4", b"{not json"),  # skipped, as Faust skips it
    _record(6, b"w-3", None),
    _record(7, b"w-3", _state("w-3", back=True)),  # set again after its tombstone
    _record(8, "w-\u00e9".encode(), _state("w-\u00e9")),
]


async def _table_after(apply: bulk_recovery.Apply,
                       records: list[ConsumerRecord[bytes, bytes]]) -> tuple[Any, Any, int]:
    """What the workers table holds after `apply` of `records` (in two fetched batches)."""
    store: Any = workers.table.data
    store.data.clear()
    store._key_partition.clear()
    try:
        applied = await apply(TP1, records[:4]) + await apply(TP1, records[4:])
        return dict(store.data), dict(store._key_partition), applied
    finally:
        store.data.clear()
        store._key_partition.clear()


async def test_a_state_table_built_directly_holds_what_faust_builds() -> None:
    direct = bulk_recovery._state_applier(app, workers.table)
    assert direct is not None
    faust = bulk_recovery._faust_applier(app, workers.table)
    mine, theirs = await _table_after(direct, RECORDS), await _table_after(faust, RECORDS)
    assert mine == theirs
    assert mine == ({"w-1": {"worker_id": "w-1", "_partition": 1, "cpu": 2.5},
                     "w-3": {"worker_id": "w-3", "_partition": 1, "back": True},
                     "w-\u00e9": {"worker_id": "w-\u00e9", "_partition": 1}},
                    {"w-1": 1, "w-3": 1, "w-\u00e9": 1}, 8)
    print(f"FIGURES bulk apply: {len(RECORDS)} records, direct table == faust table")


async def test_an_undecodable_record_is_logged_and_skipped(
        caplog: pytest.LogCaptureFixture) -> None:
    direct = bulk_recovery._state_applier(app, workers.table)
    assert direct is not None
    with caplog.at_level(logging.WARNING, logger=bulk_recovery.__name__):
        _, _, applied = await _table_after(direct, RECORDS[5:6])
    assert applied == 0
    assert [r.getMessage().split(" error=")[0] for r in caplog.records] == [
        f"recovery.undecodable topic={TOPIC} partition=1 offset=5"]


async def test_a_value_naming_a_faust_model_goes_faust_s_way() -> None:
    # Faust would rebuild the model it names; an unknown one it cannot decode, and skips.
    direct = bulk_recovery._state_applier(app, workers.table)
    assert direct is not None
    faust = bulk_recovery._faust_applier(app, workers.table)
    blessed = [_record(0, b"k", orjson.dumps({"__faust": {"ns": "no.such.Model"}})),
               _record(1, b"w-1", _state("w-1"))]
    assert await _table_after(direct, blessed) == await _table_after(faust, blessed) == (
        {"w-1": {"worker_id": "w-1", "_partition": 1}}, {"w-1": 1}, 1)


def test_windowed_tables_keep_faust_s_path() -> None:
    # JSON keys become tuples in Faust's path; only the str-keyed state tables go direct.
    assert bulk_recovery._state_applier(app, node_rollups.table) is None


def test_faust_tables_keep_keys_and_values_as_decoded() -> None:
    # The direct path sets what it decoded; Faust's apply passes them through these first.
    table: Any = workers.table
    value = {"worker_id": "w"}
    assert table._to_key("w") == "w" and table._to_value(value) is value


def test_the_collector_is_paused_inside_and_what_is_alive_frozen_after() -> None:
    assert gc.isenabled()
    before = gc.get_freeze_count()
    try:
        with bulk_recovery._kept_from_the_collector():
            assert not gc.isenabled()
            kept = [{"n": n} for n in range(1000)]
        assert gc.isenabled()
        assert gc.get_freeze_count() >= before + len(kept)
    finally:
        gc.unfreeze()
