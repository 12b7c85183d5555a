"""The worker's Prometheus metrics, served at `GET /metrics` (text format, `prometheus-client`).

Why it exists: an operator must see a pipeline fall behind, dead-letter, or lose a sink before a
user does. Counters and histograms are recorded by the Faust binding of the runtime
(`streams.pipeline.agent` via `record_batch` / `record_retry`); gauges that describe the present
(degraded sinks, consumer lag, table sizes, open alerts) are computed at scrape time from the
worker's own state, so they can never go stale. Names and labels are the contract of the shipped
rules and dashboard (`deploy/prometheus/`, `deploy/grafana/`); labels have bounded values only
(topic, pipeline, sink, partition, table, reason kind, alert kind).
What it must not do: change anything it observes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import Collector

from streams.pipeline.health import SinkHealth
from streams.pipeline.runtime import BatchReport

REGISTRY = CollectorRegistry(auto_describe=True)

EVENTS_CONSUMED = Counter("fleetstream_events_consumed_total",
                          "Records consumed by the worker's pipelines.", ["topic"],
                          registry=REGISTRY)
DEADLETTERS = Counter("fleetstream_deadletters_total",
                      "Records dead-lettered, by origin topic and kind of reason "
                      "(invalid, rejected by a sink, internal error).", ["topic", "reason"],
                      registry=REGISTRY)
BATCH_SIZE = Histogram("fleetstream_batch_size", "Records per processed batch.", ["pipeline"],
                       buckets=(1, 10, 50, 100, 250, 500, 1000, 2000, 5000, 10_000, 20_000),
                       registry=REGISTRY)
FOLD_SECONDS = Histogram("fleetstream_fold_seconds",
                         "Time to fold and project one batch (pure code).", ["pipeline"],
                         buckets=(0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5),
                         registry=REGISTRY)
SINK_WRITE_SECONDS = Histogram("fleetstream_sink_write_seconds",
                               "Time to write one batch to a sink, retries included.", ["sink"],
                               buckets=(0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30, 120),
                               registry=REGISTRY)
WINDOW_LATE_EVENTS = Counter("fleetstream_window_late_events_total",
                             "Events older than every window their key still holds (counted in "
                             "the key's late_dropped and dropped), by windowed table.", ["table"],
                             registry=REGISTRY)
PARTITION_REREADS = Counter("fleetstream_partition_rereads_total",
                            "Partitions sought back to their committed offset to read records "
                            "Faust dropped, by topic and what showed it (a hole at the head, "
                            "a stalled tail).", ["topic", "reason"], registry=REGISTRY)
SINK_RETRIES = Counter("fleetstream_sink_retries_total",
                       "Failed sink writes that were retried.", ["sink"], registry=REGISTRY)


def batch_totals(exposition: str, pipeline: str) -> tuple[int, int]:
    """(batches, records in them) of `pipeline` in a worker's `/metrics` text (benchmarks and
    tests read a worker's batching from outside)."""
    totals = {"count": 0, "sum": 0}
    for family in text_string_to_metric_families(exposition):
        if family.name == "fleetstream_batch_size":
            for sample in family.samples:
                field = sample.name.removeprefix("fleetstream_batch_size_")
                if field in totals and sample.labels.get("pipeline") == pipeline:
                    totals[field] = int(sample.value)
    return totals["count"], totals["sum"]


def record_batch(pipeline: str, topic: str, report: BatchReport) -> None:
    """Count one processed batch."""
    if report.consumed:
        EVENTS_CONSUMED.labels(topic).inc(report.consumed)
        BATCH_SIZE.labels(pipeline).observe(report.consumed)
        FOLD_SECONDS.labels(pipeline).observe(report.fold_seconds)
    for kind, count in report.rejected.items():
        DEADLETTERS.labels(topic, kind).inc(count)
    for sink, seconds in report.sink_seconds.items():
        SINK_WRITE_SECONDS.labels(sink).observe(seconds)


REREAD_REASONS = ("head_hole", "stalled")


def start_reread_counts(topic: str) -> None:
    """Export `topic`'s re-read counts from 0: a series that exists before the first re-read
    lets `rate()`, the dashboard and the alert rule see that first one."""
    for reason in REREAD_REASONS:
        PARTITION_REREADS.labels(topic, reason)


def record_retry(sink: str, reason: str, attempts: int) -> None:
    SINK_RETRIES.labels(sink).inc()


class PresentState(Collector):
    """Gauges computed at scrape time from callables returning (labels, value) pairs."""

    def __init__(self) -> None:
        self._gauges: list[tuple[str, str, list[str],
                                 Callable[[], list[tuple[list[str], float]]]]] = []

    def gauge(self, name: str, doc: str, labels: list[str],
              read: Callable[[], list[tuple[list[str], float]]]) -> None:
        self._gauges.append((name, doc, labels, read))

    def collect(self) -> Iterator[Any]:
        for name, doc, labels, read in self._gauges:
            family = GaugeMetricFamily(name, doc, labels=labels)
            for values, value in read():
                family.add_metric(values, value)
            yield family

    def describe(self) -> Iterator[Any]:
        return iter(())


PRESENT = PresentState()
REGISTRY.register(PRESENT)


def degraded_sinks(health: SinkHealth, sinks: Callable[[], set[str]]) -> Callable[
        [], list[tuple[list[str], float]]]:
    """`fleetstream_sink_degraded{sink}`: 1 while the sink fails, 0 otherwise."""
    def read() -> list[tuple[list[str], float]]:
        failing = {d.sink for d in health.degraded()}
        return [([sink], 1.0 if sink in failing else 0.0) for sink in sorted(sinks())]
    return read
