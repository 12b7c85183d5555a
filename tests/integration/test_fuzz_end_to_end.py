"""Generated records of every wire schema through the real pipelines onto the real sinks.

Hostile JSON, valid events and mutated valid events (`tests.strategies`) go in batches through
each agent's Domain and `Pipeline.process`, into PostgreSQL (a freshly migrated database), the
points into the TSDB (VictoriaMetrics, through the TSDB pipeline) and InfluxDB 1.x (strict), the
alerts raised into the alerts pipeline. Over 10,000 inputs in all: no exception leaves `process`,
no batch stalls, every record is projected or dead-lettered for a reason that is input's fault
(never `internal`, an unclassified sink error or an undecodable crash), and the tables hold
exactly the keys the pipeline stored.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schemas.event import epoch_micros
from tests.integration.fuzz_pipeline import BATCH_BOUND_S, Harness
from tests.strategies import SCHEMAS, hostile_json, mutated_event_json, valid_event

INPUTS_PER_SCHEMA = 2_000
# After every generated event time (2020..2030): valid events are taken, not "in the future".
NOW_US = epoch_micros(datetime(2031, 1, 1, tzinfo=UTC))

# The field that keys each schema's events; valid events share a few keys so that folds build on
# stored states (rates, duplicates, out-of-order seqs), not only on first events.
KEY_FIELDS = {"node": "node_id", "vm": "vm_uuid", "backup": "job_id",
              "heartbeat": "worker_id", "alert": "subject"}
SHARED_KEYS = {
    "vm": ["5f0c7f9e-7a40-4d4e-9a51-0d6f2b9c0001", "5f0c7f9e-7a40-4d4e-9a51-0d6f2b9c0002",
           "5f0c7f9e-7a40-4d4e-9a51-0d6f2b9c0003"],
}


def _keyed(schema: str) -> st.SearchStrategy[dict[str, Any]]:
    shared = SHARED_KEYS.get(schema, [f"fuzz-{schema}-{i}" for i in range(3)]
                             + ["a\\", "x,y=z w", 'q"\\"'])
    return st.tuples(valid_event(schema), st.sampled_from(shared)).map(
        lambda pair: {**pair[0], KEY_FIELDS[schema]: pair[1]})


def inputs(schema: str) -> st.SearchStrategy[bytes]:
    # Mapped, so that one_of does not flatten hostile_json's own branches into as many draws.
    return st.one_of(hostile_json().map(bytes), _keyed(schema).map(orjson.dumps),
                     valid_event(schema).map(orjson.dumps), mutated_event_json(schema))


def _key(value: bytes, schema: str) -> bytes | None:
    try:
        body = orjson.loads(value)
    except orjson.JSONDecodeError:
        return None
    key = body.get(KEY_FIELDS[schema]) if isinstance(body, dict) else None
    return key.encode(errors="replace") if isinstance(key, str) else None


async def _stored_keys_in_sinks(harness: Harness, schema: str) -> set[str]:
    queries = {"backup": "SELECT job_id AS k FROM backup_jobs",
               "node": "SELECT DISTINCT node_id AS k FROM telemetry_history",
               "heartbeat": "SELECT worker_id AS k FROM workers"}
    return {row["k"] for row in await harness.database.fetch(queries[schema])}


@pytest.mark.parametrize("schema", SCHEMAS)
def test_generated_records_are_projected_or_dead_lettered_never_crash_or_stall(
    schema: str, stack_env: dict[str, str],
) -> None:
    loop = asyncio.new_event_loop()
    harness = loop.run_until_complete(Harness.open(schema, stack_env))
    try:
        @settings(max_examples=80, deadline=None, database=None,
                  suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                         HealthCheck.large_base_example])
        @given(st.lists(inputs(schema), min_size=30, max_size=60))
        def batch(values: list[bytes]) -> None:
            loop.run_until_complete(
                harness.run([(_key(value, schema), value) for value in values], NOW_US))

        batch()
        totals = harness.totals
        print(f"{schema}: {totals}")
        assert totals.inputs >= INPUTS_PER_SCHEMA, totals
        assert totals.inputs == totals.projected + totals.dead_lettered
        assert totals.projected > 0 and totals.dead_lettered > 0, totals
        assert totals.slowest_batch_s < BATCH_BOUND_S
        assert not harness.health.degraded(), harness.health.degraded()
        if schema in ("backup", "node", "heartbeat"):
            stored = set(harness.store.data)
            assert loop.run_until_complete(_stored_keys_in_sinks(harness, schema)) == stored
        if schema == "alert":
            raised = loop.run_until_complete(harness.database.fetch("SELECT count(*) FROM alerts"))
            assert raised[0][0] > 0
    finally:
        loop.run_until_complete(harness.close())
        loop.close()
