"""The real pipelines of every domain on the real sinks, for end-to-end fuzz and type tests.

Why it exists: the fuzz and strict-TSDB tests must run generated records through exactly what a
worker runs: the agents' Domain classes, `Pipeline.process`, `PostgresSink` on a migrated
database, and the TSDB pipeline (`streams.agents.tsdb.Points`) writing `TsdbSink`. Only the
Faust parts are replaced: the table is a dict, the points topic and the alert and dead-letter
topics are in-memory captures that hand their records on (points to the TSDB pipeline and to
InfluxDB 1.x, alerts to the alerts pipeline), the way the topics would.
"""

from __future__ import annotations

import asyncio
import dataclasses
import re
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import aiohttp
import orjson

from schemas.alert import Alert
from schemas.deadletter import DeadLetter
from streams.agents.alerts import Alerts
from streams.agents.backup import BackupJobs
from streams.agents.node import Nodes
from streams.agents.tsdb import Points
from streams.agents.vm import Vms
from streams.agents.worker import Workers
from streams.app import settings
from streams.pipeline.domain import Domain, Record, State
from streams.pipeline.health import SinkHealth
from streams.pipeline.runtime import BatchReport, Pipeline, Rejection
from streams.pipeline.sink import Sink
from streams.pipeline.stores import DictStore, NoState
from streams.projections.points import SINK as POINTS
from streams.sinks.influx import TsdbSink
from streams.sinks.message import Message
from streams.sinks.postgres import Database, PostgresSink
from tests.integration.helpers import create_database
from tests.integration.influx1 import write_lines_strict

BATCH_BOUND_S = 60.0
"""A batch that takes longer than this is a stall (a sink retried an error for good)."""

RETENTION_S = 1e12
"""Keys stay in the table (sweeps raise staleness and inactivity alerts, delete nothing)."""
_FAR = datetime(2262, 1, 1, tzinfo=UTC)


class RecoveredStore(DictStore):
    """The table as a worker that took the partitions over reads it: every state through the
    changelog's codec (orjson), so types a state only has after recovery show too."""

    def put(self, key: str, value: State, partition: int) -> None:
        super().put(key, orjson.loads(orjson.dumps(value)), partition)


class PointsTopic(Sink):
    """The points topic: keeps each record for the TSDB pipeline to drain."""

    name = POINTS

    def __init__(self) -> None:
        self.messages: list[Message] = []

    async def write(self, records: Sequence[Any]) -> None:
        self.messages.extend(records)


class Outbound:
    """Alerts and dead letters as the Kafka outbound would send them, kept for assertions."""

    def __init__(self) -> None:
        self.sent_alerts: list[Alert] = []
        self.rejections: list[Rejection] = []

    async def alerts(self, alerts: Sequence[Alert]) -> None:
        self.sent_alerts.extend(Alert.model_validate_json(alert.encode()) for alert in alerts)

    async def dead_letters(self, rejections: Sequence[Rejection]) -> None:
        for rejection in rejections:
            # What the worker sends: a dead letter must be encodable whatever the bytes were.
            record = rejection.record
            DeadLetter.of(record.value or b"", rejection.reason, list(rejection.errors),
                          topic=record.topic, partition=record.partition,
                          offset=record.offset).encode()
        self.rejections.extend(rejections)


def domain_for(schema: str) -> Domain[Any]:
    """The agent's Domain of a wire schema (tests.strategies.SCHEMAS), as a worker builds it."""
    if schema == "backup":
        return BackupJobs(settings.stale_after_seconds, settings.stalled_after_seconds, RETENTION_S)
    if schema == "node":
        return Nodes(settings.node_silent_seconds, RETENTION_S)
    if schema == "vm":
        return Vms(RETENTION_S)
    if schema == "heartbeat":
        return Workers(settings.worker_inactive_seconds, RETENTION_S)
    if schema == "alert":
        return Alerts()
    raise ValueError(f"no domain for schema {schema!r}")


def _unexpected(rejections: Sequence[Rejection]) -> list[str]:
    """Reasons that show a bug rather than bad input: internal failures, unclassified sink
    errors, decoders failing with something other than a validation error."""
    return [f"{r.kind}: {r.reason}" for r in rejections
            if r.kind == "internal" or "unclassified error" in r.reason
            or r.reason.startswith("undecodable:")]


@dataclass
class Totals:
    """Counts over every batch of a run: what went in, what was projected, dead-lettered."""

    inputs: int = 0
    projected: int = 0
    dead_lettered: int = 0
    points: int = 0
    alerts: int = 0
    influx1_skipped: int = 0
    slowest_batch_s: float = 0.0


class Harness:
    """One domain's pipeline on a fresh database, feeding the TSDB, InfluxDB 1.x and alerts."""

    def __init__(self, schema: str, database: Database, tsdb: TsdbSink,
                 influx1: tuple[str, str] | None, *, own_influx1: bool = True) -> None:
        self.schema = schema
        self.topic = f"fuzz.{schema}"
        self.domain = domain_for(schema)
        self.store = DictStore()
        self.points = PointsTopic()
        self.outbound = Outbound()
        self.health = SinkHealth()
        self.database = database
        self.postgres = PostgresSink(database)
        sinks: dict[str, list[Sink]] = {
            "backup": [self.postgres, self.points], "node": [self.postgres, self.points],
            "heartbeat": [self.postgres, self.points], "vm": [self.points],
            "alert": [self.postgres]}
        self.pipeline: Pipeline[Any] = Pipeline(self.domain, self.store, sinks[schema],
                                                self.outbound, self.health,
                                                max_clock_skew_s=settings.max_clock_skew_seconds)
        self.tsdb_outbound = Outbound()
        self.tsdb_pipeline: Pipeline[Any] = Pipeline(Points(), NoState(), [tsdb],
                                                     self.tsdb_outbound, self.health,
                                                     max_clock_skew_s=settings.max_clock_skew_seconds)
        self.alerts_outbound = Outbound()
        self.alerts_pipeline: Pipeline[Any] = Pipeline(Alerts(), NoState(), [self.postgres],
                                                       self.alerts_outbound, self.health,
                                                       max_clock_skew_s=settings.max_clock_skew_seconds)
        self.influx1 = influx1
        self.own_influx1 = own_influx1
        self.totals = Totals()
        self.offset = 0

    @classmethod
    async def open(cls, schema: str, stack_env: dict[str, str],
                   influx1_db: str | None = None, recovered: bool = False) -> Harness:
        """A harness on a fresh database; its points also go to InfluxDB 1.x, into
        `influx1_db` when given (the caller's, kept), else a database of its own (dropped)."""
        run = uuid.uuid4().hex[:10]
        url = await create_database(stack_env["DATABASE_URL"], f"fuzz_{run}")
        database = Database(url)
        await database.migrate()
        tsdb = TsdbSink(dataclasses.replace(settings, influx_url=stack_env["INFLUX_URL"],
                                            influx_db=f"fuzz{run}",
                                            influx_token=stack_env["INFLUX_TOKEN"]))
        target = (stack_env["INFLUXDB1_URL"], influx1_db or f"fuzz{run}")
        if influx1_db is None:
            await influx1_query(target[0], f'CREATE DATABASE "{target[1]}"')
        harness = cls(schema, database, tsdb, target, own_influx1=influx1_db is None)
        if recovered:
            harness.store = harness.pipeline.store = RecoveredStore()
        return harness

    async def close(self) -> None:
        tsdb = self.tsdb_pipeline.sinks[0]
        assert isinstance(tsdb, TsdbSink)
        tsdb.close()
        if self.influx1 is not None and self.own_influx1:
            await influx1_query(self.influx1[0], f'DROP DATABASE "{self.influx1[1]}"')
        if self.database._pool is not None:
            await self.database._pool.close()

    def records(self, values: Sequence[tuple[bytes | None, bytes]]) -> list[Record]:
        batch = []
        for key, value in values:
            batch.append(Record(self.topic, hash(key) % 4, self.offset, key, value))
            self.offset += 1
        return batch

    async def run(self, values: Sequence[tuple[bytes | None, bytes]], now_us: int) -> BatchReport:
        """One batch through the domain's pipeline, then its points and alerts downstream;
        asserts every record was projected or dead-lettered for a reason that is not a bug."""
        batch = self.records(values)
        before = len(self.outbound.rejections)
        began = time.monotonic()
        report = await asyncio.wait_for(self.pipeline.process(batch, now_us), BATCH_BOUND_S)
        self.totals.slowest_batch_s = max(self.totals.slowest_batch_s, time.monotonic() - began)
        rejected = self.outbound.rejections[before:]
        assert not _unexpected(rejected), _unexpected(rejected)
        rejected_offsets = [r.record.offset for r in rejected]
        assert len(set(rejected_offsets)) == len(rejected_offsets), "a record dead-lettered twice"
        # Every other record decodes, and its key is one the batch wrote to every sink.
        projected = [r for r in batch if r.offset not in set(rejected_offsets)]
        keys = {self.domain.key(self.domain.decode(r, _FAR)) for r in projected}
        assert report.keys == len(keys), (report.keys, len(keys))
        assert report.consumed == len(projected) + len(rejected)
        self.totals.inputs += len(batch)
        self.totals.projected += len(projected)
        self.totals.dead_lettered += len(rejected)
        # The timer's step: every stored state is long silent at `now_us`, so staleness and
        # inactivity alerts are raised and flow on to the alerts pipeline.
        swept = await asyncio.wait_for(self.pipeline.sweep(now_us), BATCH_BOUND_S)
        assert not swept.rejected, swept.rejected
        await self._downstream(now_us)
        return report

    async def _downstream(self, now_us: int) -> None:
        """The points topic into the TSDB (and InfluxDB 1.x), the alerts into PostgreSQL."""
        messages, self.points.messages = self.points.messages, []
        if messages:
            records = [Record(f"fuzz.points.{self.schema}", 0, self.offset + i, m.key, m.value)
                       for i, m in enumerate(messages)]
            self.offset += len(records)
            await asyncio.wait_for(self.tsdb_pipeline.process(records, now_us), BATCH_BOUND_S)
            refused = self.tsdb_outbound.rejections
            assert not refused, [r.reason for r in refused]
            lines = [text for m in messages for text in m.value.decode().split("\n")]
            self.totals.points += len(lines)
            if self.influx1 is not None:
                parsable = [text for text in lines if not influx1_cannot_parse(text)]
                self.totals.influx1_skipped += len(lines) - len(parsable)
                await write_lines_strict(*self.influx1, parsable)
        alerts, self.outbound.sent_alerts = self.outbound.sent_alerts, []
        if alerts:
            records = [Record("fuzz.alerts", 0, self.offset + i, a.subject.encode(), a.encode())
                       for i, a in enumerate(alerts)]
            self.offset += len(records)
            self.totals.alerts += len(records)
            await asyncio.wait_for(self.alerts_pipeline.process(records, now_us), BATCH_BOUND_S)
            assert not self.alerts_outbound.rejections, [
                r.reason for r in self.alerts_outbound.rejections]


_TRAILING_BACKSLASH = re.compile(r"(?<!\\)(?:\\\\)+[ ,=]")


def influx1_cannot_parse(text: str) -> bool:
    """A tag value ending in a backslash: written `\\\\` (the spec's escaped backslash, which
    VictoriaMetrics and InfluxDB 3 read back as one), but InfluxDB 1.x's parser takes any
    separator after a backslash as escaped, so no spelling of such a value parses there."""
    return _TRAILING_BACKSLASH.search(text) is not None


async def influx1_query(url: str, q: str, db: str | None = None) -> dict[str, Any]:
    """An InfluxQL statement on InfluxDB 1.x; its JSON answer."""
    params = {"q": q, **({"db": db} if db else {})}
    async with aiohttp.ClientSession() as session, session.post(
            f"{url}/query", params=params) as response:
        assert response.status == 200, await response.text()
        answer: dict[str, Any] = await response.json()
        return answer
