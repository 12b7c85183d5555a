"""The TSDB sink: line protocol written in batches to InfluxDB with influxdb3-python.

Why it exists: node, VM, backup-job and worker series go to InfluxDB (locally: a line-protocol
TSDB) with identity as tags, numbers as fields and event time as the timestamp. Rewriting the same
point is harmless (same series and timestamp), so replays are idempotent. The client is
synchronous, so writes run on one thread of their own, with the client's own retries off: the
runtime's policy retries. `classify` is the one place that decides what a TSDB error means:
- unavailable (retry, degraded): no answer (connection refused/reset, timeout), HTTP 5xx and 429,
  and 401/403/404 (a bad token or a missing database: no event causes them, an operator fixes
  them, and the points must still arrive afterwards);
- rejected (bisect, dead-letter): any other 4xx (a line the server cannot parse or store, such as a
  field type conflict).
The TSDB is fed from the points topic by its own pipeline (`streams.agents.tsdb`), so it never
holds the PostgreSQL projections back.
Credentials (`authorization`, one place for the client and the start-up `probe`): INFLUX_TOKEN
sent as `Authorization: Token ...` (InfluxDB 3 and 2, the client's default), `Bearer ...`
(InfluxDB 3 Core/Edge), or, with INFLUX_AUTH_SCHEME=BASIC, as HTTP basic auth of USER:PASSWORD
(VictoriaMetrics' `-httpAuth.*`, the local stand-in; InfluxDB 1.x with `auth-enabled`).
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import aiohttp
import urllib3
from influxdb_client_3 import (  # type: ignore[attr-defined]
    InfluxDBClient3,
    InfluxDBError,
    WriteOptions,
    WritePrecision,
    write_client_options,
)
from influxdb_client_3.write_client.client.write_api import WriteType

from common.settings import Settings, mask_url
from streams.pipeline.sink import (
    Sink,
    SinkMisconfigured,
    SinkRejected,
    SinkUnavailable,
    classified,
)

_UNAVAILABLE_STATUSES = frozenset({401, 403, 404, 429})
_WRITE_TIMEOUT_MS = 10_000


def classify(exc: BaseException) -> SinkUnavailable | SinkRejected | None:
    """What a TSDB client error means for the sink contract; None when it cannot tell."""
    response = getattr(exc, "response", None)
    status = getattr(response, "status", None)
    if isinstance(exc, InfluxDBError) and isinstance(status, int):
        reason = f"TSDB HTTP {status}: {exc}"
        if status >= 500 or status in _UNAVAILABLE_STATUSES:
            return SinkUnavailable(reason)
        if 400 <= status < 500:
            return SinkRejected(reason)
        return None
    if isinstance(exc, (OSError, urllib3.exceptions.HTTPError)):
        return SinkUnavailable(f"TSDB unreachable: {type(exc).__name__}: {exc}")
    return None


def authorization(settings: Settings) -> tuple[str, str]:
    """(scheme, credentials) of the `Authorization` header every TSDB request carries."""
    if settings.influx_auth_scheme == "BASIC":
        return "Basic", base64.b64encode(settings.influx_token.encode()).decode("ascii")
    # The client sends a token header in any case; a server without auth ignores it.
    return settings.influx_auth_scheme.title(), settings.influx_token or "unused"


async def probe(settings: Settings, timeout: float = 10.0) -> None:
    """Send the TSDB an empty write with this worker's credentials, once, at start-up.

    Raises `SinkMisconfigured` on 401/403/404 (wrong credentials, no such database or write
    endpoint) and `SinkUnavailable` when there is no answer, or a 5xx/429 one. Any other answer
    means the server took the credentials (an empty body may be a 400 once they are checked).
    """
    scheme, credentials = authorization(settings)
    url = f"{settings.influx_url.rstrip('/')}/api/v2/write"
    params = {"bucket": settings.influx_db, "precision": "ns"}
    headers = {"Authorization": f"{scheme} {credentials}"}
    try:
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout)) as session,
            session.post(url, params=params, data=b"", headers=headers) as response,
        ):
            status, body = response.status, (await response.text(errors="replace"))[:200]
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise SinkUnavailable(f"TSDB unreachable: {type(exc).__name__}: {exc}") from exc
    said = f": {body.strip()!r}" if body.strip() else ""
    reason = f"TSDB HTTP {status} at {mask_url(settings.influx_url)}{said}"
    if status in {401, 403, 404}:
        raise SinkMisconfigured(reason)
    if status >= 500 or status == 429:
        raise SinkUnavailable(reason)


class TsdbSink(Sink):
    """Writes line-protocol lines to `INFLUX_URL` / `INFLUX_DB`: a batch's lines in order, in
    requests of at most BATCH_MAX_LINES lines (a points record carries many keys' lines)."""

    name = "tsdb"

    def __init__(self, settings: Settings) -> None:
        scheme, credentials = authorization(settings)
        self._client = InfluxDBClient3(
            host=settings.influx_url,
            database=settings.influx_db,
            auth_scheme=scheme,
            token=credentials,
            write_client_options=write_client_options(
                write_options=WriteOptions(write_type=WriteType.synchronous, max_retries=0,
                                           timeout=_WRITE_TIMEOUT_MS)),
        )
        self._max_lines = settings.batch_max_lines
        # One thread: the client is synchronous and batches are written in order.
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tsdb-write")

    def _write_sync(self, lines: list[str]) -> None:
        with classified(classify):
            for start in range(0, len(lines), self._max_lines):
                self._client.write(record=lines[start:start + self._max_lines],
                                   write_precision=WritePrecision.NS)

    async def write(self, records: Sequence[Any]) -> None:
        lines = [str(record) for record in records]
        if lines:
            await asyncio.get_running_loop().run_in_executor(self._executor, self._write_sync,
                                                             lines)

    def close(self) -> None:
        self._client.close()
        self._executor.shutdown(wait=False)
