"""The points topic -> the TSDB: every pipeline's points, drained with offsets of its own.

Why it exists: the TSDB must never hold PostgreSQL back, nor PostgreSQL the TSDB, and each must
still get everything after an outage. Pipelines write their points to `telemetry.points` with
their batch (`streams.projections.points`); this stateless pipeline writes them to the TSDB. A
TSDB outage or a bad token stops only this pipeline (the topic keeps the points; memory stays
bounded by the consumer's buffers); a line the TSDB refuses is found by bisection and
dead-lettered with the TSDB's reason.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from schemas.errors import InvalidEvent
from streams import topics
from streams.app import settings
from streams.pipeline.domain import Domain, Projected, Record, State, Step
from streams.pipeline.register import register
from streams.pipeline.stores import NoState
from streams.projections.points import split_lines
from streams.sinks.influx import TsdbSink


@dataclass(frozen=True, slots=True)
class PointsRecord:
    """One record of the points topic: its position (its key here) and its lines."""

    position: str
    lines: list[str]


class Points(Domain[PointsRecord]):
    """Records of the points topic: the lines of one key and batch of some pipeline."""

    name = "tsdb"

    def decode(self, record: Record, latest: datetime) -> PointsRecord:
        try:
            lines = split_lines(record.value or b"")
        except UnicodeDecodeError as exc:
            raise InvalidEvent.single("(body)", f"not UTF-8 line protocol: {exc}") from None
        return PointsRecord(f"{record.partition}:{record.offset}", lines)

    def key(self, event: PointsRecord) -> str:
        # Bisection only needs a record's lines together: each record is its own key.
        return event.position

    def event_us(self, event: PointsRecord) -> int:
        # A line ends with its timestamp in nanoseconds.
        return max((int(text.rsplit(" ", 1)[-1]) // 1000 for text in event.lines), default=0)

    def fold(self, key: str, before: State | None, events: Sequence[PointsRecord],
             now_us: int) -> Step:
        return Step(emitted=[text for event in events for text in event.lines])

    def project(self, key: str, state: State | None, step: Step) -> Projected:
        return {"tsdb": step.emitted}


# Seed 002's batches: a TSDB write waits up to BATCH_MAX_SEC to gather its points. A points
# record holds up to MAX_RECORD_BYTES of lines, so a batch takes at most MAX_BATCH_RECORDS of
# them (16 MiB), and the sink writes them BATCH_MAX_LINES lines per request.
MAX_BATCH_RECORDS = 64
pipeline = register(Points(), topics.points, NoState(), [TsdbSink(settings)],
                    batch_wait_s=settings.batch_max_sec, max_batch=MAX_BATCH_RECORDS)
