"""The projections' points through InfluxData's own parser: InfluxDB 1.x refuses what is not
line protocol and a field written with another type than before (a field type conflict).

Valid events of the four domains that write points (node, vm, backup, heartbeat) go through the
real pipelines (`tests.integration.fuzz_pipeline`) and every batch's points into ONE InfluxDB 1.x
database, strictly: a parse error or a type conflict fails the test. The events carry floats
that happen to be integral, written as JSON integers (`"cpu_percent": 5`) or floats (`5.0`),
varying from event to event and key to key; their times lie within one day, so every point of a
measurement lands in the same shard (InfluxDB checks field types per shard). States go through
the changelog codec between batches, as after a takeover.
"""

from __future__ import annotations

import asyncio
import math
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schemas.event import epoch_micros
from tests.integration.fuzz_pipeline import Harness, influx1_query
from tests.strategies import valid_event

DOMAINS = ("node", "vm", "backup", "heartbeat")
KEY_FIELDS = {"node": "node_id", "vm": "vm_uuid", "backup": "job_id", "heartbeat": "worker_id"}
KEYS = {schema: [str(uuid.UUID(int=i + 1)) if schema == "vm" else f"{schema}-{i}"
                 for i in range(4)] for schema in DOMAINS}
NOW = datetime.now(UTC).replace(microsecond=0)
DAY_S = 86_400


@st.composite
def integral_floats(draw: st.DrawFn, value: Any) -> Any:
    """`value` with some of its floats made integral (ceil: bounds like `gt=0` still hold),
    each written as a JSON integer or a float, at random."""
    if isinstance(value, dict):
        return {key: draw(integral_floats(inner)) for key, inner in value.items()}
    if isinstance(value, list):
        return [draw(integral_floats(inner)) for inner in value]
    if isinstance(value, float) and not isinstance(value, bool):
        choice = draw(st.sampled_from(["keep", "int", "float"]))
        if choice == "int":
            return math.ceil(value)
        if choice == "float":
            return float(math.ceil(value))
    return value


def _at(value: Any, at: str) -> Any:
    """`value` with every time in it (ts, boot_time, a task's started_at) set to `at`."""
    if isinstance(value, dict):
        return {key: _at(inner, at) for key, inner in value.items()}
    if isinstance(value, list):
        return [_at(inner, at) for inner in value]
    if isinstance(value, str) and len(value) >= 19 and value[4] == "-" and value[10] == "T":
        return at
    return value


@st.composite
def events(draw: st.DrawFn, schema: str) -> bytes:
    body = draw(integral_floats(draw(valid_event(schema))))
    body[KEY_FIELDS[schema]] = draw(st.sampled_from(KEYS[schema]))
    at = NOW - timedelta(seconds=draw(st.integers(min_value=1, max_value=DAY_S)))
    return orjson.dumps(_at(body, at.isoformat().replace("+00:00", "Z")))


def test_every_projection_writes_points_influxdb1_parses_with_stable_field_types(
    stack_env: dict[str, str],
) -> None:
    loop = asyncio.new_event_loop()
    db = f"types{uuid.uuid4().hex[:10]}"
    loop.run_until_complete(influx1_query(stack_env["INFLUXDB1_URL"], f'CREATE DATABASE "{db}"'))
    harnesses = {schema: loop.run_until_complete(
        Harness.open(schema, stack_env, influx1_db=db, recovered=True)) for schema in DOMAINS}
    now_us = epoch_micros(NOW)
    try:
        @settings(max_examples=150, deadline=None, database=None,
                  suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
        @given(st.lists(st.one_of(*(st.tuples(st.just(schema), events(schema))
                                    for schema in DOMAINS)), min_size=10, max_size=40))
        def batch(drawn: list[tuple[str, bytes]]) -> None:
            for schema, harness in harnesses.items():
                values = [(None, value) for s, value in drawn if s == schema]
                if values:
                    loop.run_until_complete(harness.run(values, now_us))

        batch()
        for schema, harness in harnesses.items():
            totals = harness.totals
            print(f"{schema}: {totals}")
            assert totals.dead_lettered == 0, [r.reason for r in harness.outbound.rejections][:5]
            assert totals.points > 0, totals
        answer = loop.run_until_complete(
            influx1_query(stack_env["INFLUXDB1_URL"], "SHOW FIELD KEYS", db))
        types = {(series["name"], key): kind for series in answer["results"][0]["series"]
                 for key, kind in series["values"]}
        assert {name for name, _ in types} >= {"node", "vm", "backup_job", "worker"}, types
        # Integral floats stayed floats: the percent and rate fields are floats, counters ints.
        assert types[("node", "cpu_percent")] == "float"
        assert types[("worker", "cpu_usage")] == "float"
        assert types[("backup_job", "bytes")] == "integer"
    finally:
        for harness in harnesses.values():
            loop.run_until_complete(harness.close())
        loop.run_until_complete(influx1_query(stack_env["INFLUXDB1_URL"], f'DROP DATABASE "{db}"'))
        loop.close()
