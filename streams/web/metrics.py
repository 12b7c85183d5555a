"""`GET /metrics`: the worker's Prometheus metrics (see `streams.metrics`), and the gauges that
describe the present: degraded sinks, consumer lag per partition, table sizes, open alerts.

Lag is the records waiting after the last one this worker processed on the partitions it owns
(`streams.pipeline.agent.processed_offset`).
"""

from __future__ import annotations

from faust.web import Request, Response, View
from prometheus_client import generate_latest

from streams import tables
from streams.app import app
from streams.domain.backup import STALE, STALLED
from streams.metrics import PRESENT, REGISTRY, degraded_sinks
from streams.pipeline.agent import processed_offset
from streams.pipeline.health import health
from streams.pipeline.register import PIPELINES


def _sinks() -> set[str]:
    return {name for pipeline, _ in PIPELINES for name in pipeline.sink_names}


def _lag() -> list[tuple[list[str], float]]:
    samples = []
    owned = app.assignor.assigned_actives()
    for pipeline, source in PIPELINES:
        topic = source.get_topic_name()
        for tp in sorted(t for t in owned if t.topic == topic):
            end = app.consumer.highwater(tp)
            if end is None:
                continue
            done = processed_offset(app, pipeline, tp)
            waiting = end if done is None else end - done - 1
            samples.append(([topic, str(tp.partition)], float(max(0, waiting))))
    return samples


def _table_keys() -> list[tuple[list[str], float]]:
    return [([name], float(len(table))) for name, table in sorted(tables.ALL.items())]


def _open_alerts() -> list[tuple[list[str], float]]:
    levels = [job["stale_level"] for _, job in tables.jobs.owned_items()]
    inactive = sum(1 for _, w in tables.workers.owned_items() if not w["is_active"]
                   and w.get("inactive_since_us") is not None)
    silent = sum(1 for _, n in tables.nodes.owned_items() if n.get("silent"))
    return [(["backup.stale"], float(sum(1 for level in levels if level >= STALE))),
            (["backup.stalled"], float(sum(1 for level in levels if level >= STALLED))),
            (["worker.inactive"], float(inactive)), (["node.silent"], float(silent))]


PRESENT.gauge("fleetstream_sink_degraded", "1 while a sink fails to take writes.", ["sink"],
              degraded_sinks(health, _sinks))
PRESENT.gauge("fleetstream_consumer_lag", "Records waiting on an owned partition.",
              ["topic", "partition"], _lag)
PRESENT.gauge("fleetstream_table_keys", "Keys in a live table on this worker (owned and "
              "standby).", ["table"], _table_keys)
PRESENT.gauge("fleetstream_alerts_open", "Alerts raised and not cleared, on owned keys.",
              ["kind"], _open_alerts)


CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


@app.page("/metrics")
class Metrics(View):
    """Prometheus text exposition of this worker's metrics."""

    async def get(self, request: Request) -> Response:
        return self.bytes(generate_latest(REGISTRY), headers={"Content-Type": CONTENT_TYPE})
