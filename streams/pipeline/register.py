"""Registering a domain's pipeline with the Faust app: its agent, its sweep timer, its sinks.

Why it exists: every domain agent module reads the same way — build the domain, call `register`
— so the agent modules hold no loop, no ordering and no sink code. The PostgreSQL and points
sinks are this worker's single instances, shared by every pipeline.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

from streams import metrics, topics
from streams.app import app, settings
from streams.faust_tuning import kafka_producer
from streams.pipeline import agent
from streams.pipeline.domain import Domain
from streams.pipeline.health import health
from streams.pipeline.runtime import Pipeline, Store
from streams.pipeline.sink import Sink
from streams.projections.points import SINK as POINTS
from streams.projections.points import coalesce
from streams.sinks.postgres import Database, PostgresSink
from streams.sinks.topic import TopicSink

PIPELINES: list[tuple[Pipeline[Any], Any]] = []
"""Every pipeline of this worker with its source topic (for metrics and health)."""


@functools.cache
def database() -> Database:
    return Database(settings.database_url)


@functools.cache
def postgres() -> PostgresSink:
    return PostgresSink(database())


@functools.cache
def points() -> TopicSink:
    return TopicSink(topics.points.get_topic_name(), POINTS, lambda: kafka_producer(app),
                     coalesce)


def register(domain: Domain[Any], source: Any, store: Store, sinks: Sequence[Sink], *,
             sweep_quiet_s: float | None = None, batch_wait_s: float | None = None,
             max_batch: int | None = None) -> Pipeline[Any]:
    """The domain's pipeline as an agent on `source` (and a sweep timer when `sweep_quiet_s`:
    partitions whose newest event is older than that are caught up on before sweeping).

    A batch is processed once `batch_wait_s` (default FLEETSTREAM_BATCH_WAIT_SECONDS) passed,
    unless more records wait than it holds: then it grows to FLEETSTREAM_BATCH_MAX_EVENTS
    (`max_batch` instead bounds a batch of large records) or BATCH_MAX_SEC. At low load an
    event waits at most `batch_wait_s`; catching up, batches fill, with fewer writes per event.
    """
    within = settings.batch_wait_seconds if batch_wait_s is None else batch_wait_s
    outbound = agent.KafkaOutbound(topics.alerts, topics.deadletter, lambda: kafka_producer(app))
    pipeline: Pipeline[Any] = Pipeline(
        domain, store, sinks, outbound, health,
        max_clock_skew_s=settings.max_clock_skew_seconds, on_retry=metrics.record_retry)
    PIPELINES.append((pipeline, source))
    metrics.start_reread_counts(source.get_topic_name())

    async def process(stream: Any) -> None:
        await agent.consume(pipeline, agent.batches(
            app, stream, within=within, max_batch=max_batch or settings.batch_max_events,
            batch_max_sec=settings.batch_max_sec))

    process.__name__ = process.__qualname__ = f"process_{domain.name}"
    app.agent(source, name=f"streams.agents.{domain.name}.process")(process)
    if sweep_quiet_s is not None:
        topic_name = source.get_topic_name()

        async def sweep() -> None:
            owned = {tp for tp in app.assignor.assigned_actives() if tp.topic == topic_name}
            await agent.sweep_once(app, pipeline, owned, sweep_quiet_s)

        sweep.__name__ = sweep.__qualname__ = f"sweep_{domain.name}"
        app.timer(settings.sweep_interval_seconds, name=f"streams.agents.{domain.name}.sweep")(
            sweep)
    return pipeline
