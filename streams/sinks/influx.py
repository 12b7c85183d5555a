"""InfluxDB projection: line protocol written in batches with influxdb3-python.

Why it exists: node, VM, backup-job and worker series go to InfluxDB (locally: a line-protocol
TSDB) with identity as tags, numbers as fields and event time as the timestamp. Rewriting the same
point is harmless (same series and timestamp), so replays are idempotent. The client is
synchronous, so writes run in a thread executor; failures become `SinkUnavailable` for the shared
retry policy. Callers batch by `BATCH_MAX_LINES` / `BATCH_MAX_SEC` (their processing batches), and
`write` splits anything larger into chunks of at most `batch_max_lines`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

from influxdb_client_3 import (
    InfluxDBClient3,
    WriteOptions,
    WritePrecision,
    write_client_options,
)
from influxdb_client_3.write_client.client.write_api import WriteType

from common.settings import Settings
from streams.sinks.base import SinkUnavailable, write_durably
from streams.sinks.line_protocol import FieldValue, UnwritablePoint, line

__all__ = ["FieldValue", "InfluxWriter", "UnwritablePoint", "line"]


class InfluxWriter:
    """Writes line-protocol batches to `INFLUX_URL` / `INFLUX_DB`."""

    def __init__(self, settings: Settings) -> None:
        self._max_lines = settings.batch_max_lines
        self._client = InfluxDBClient3(
            host=settings.influx_url,
            database=settings.influx_db,
            token=settings.influx_token or "unused",
            write_client_options=write_client_options(
                write_options=WriteOptions(write_type=WriteType.synchronous)),
        )
        # One thread: the client is synchronous and batches are written in order.
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="influx-write")

    def _write_sync(self, lines: Sequence[str]) -> None:
        try:
            self._client.write(record=list(lines), write_precision=WritePrecision.NS)
        except Exception as exc:  # the client raises urllib3 and its own API errors alike
            raise SinkUnavailable(f"InfluxDB write failed: {exc}") from exc

    async def write(self, lines: Sequence[str], *, what: str = "influx") -> None:
        """Write all lines, in chunks of at most BATCH_MAX_LINES, retrying through outages."""
        loop = asyncio.get_running_loop()
        for start in range(0, len(lines), self._max_lines):
            chunk = lines[start:start + self._max_lines]

            async def attempt(chunk: Sequence[str] = chunk) -> None:
                await loop.run_in_executor(self._executor, self._write_sync, chunk)

            await write_durably(attempt, what=what)

    def close(self) -> None:
        self._client.close()
        self._executor.shutdown(wait=False)
