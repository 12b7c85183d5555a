"""The Alertmanager sink: alerts POSTed to Alertmanager's API v2, so they reach people.

Why it exists: fleetstream's alerts (stale and stalled backup jobs, inactive workers, silent nodes)
are recorded in PostgreSQL by the alerts pipeline; this sink also hands each transition to
Alertmanager (`POST /api/v2/alerts`), which routes, groups, silences and notifies. The records are
`streams.projections.alertmanager` alerts, whose labels make re-sends idempotent.
`classify` is the one place that decides what an Alertmanager error means:
- unavailable (retry, degraded): no answer (connection refused/reset, timeout), HTTP 5xx and 429;
- rejected (bisect, dead-letter): any other 4xx (Alertmanager refuses an alert it cannot validate,
  e.g. an invalid label); its reason names the status and the start of Alertmanager's answer.
What it must not do: retry by itself, or send anything but the records it is given.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import aiohttp

from streams.pipeline.sink import Sink, SinkRejected, SinkUnavailable, classified

_TIMEOUT = aiohttp.ClientTimeout(total=10)
_REASON_BODY_CHARS = 300


class AlertmanagerHTTPError(Exception):
    """Alertmanager answered, but not 2xx; `body` is the start of its answer, for the reason."""

    def __init__(self, status: int, body: str) -> None:
        super().__init__(f"HTTP {status}: {body}")
        self.status = status
        self.body = body


def classify(exc: BaseException) -> SinkUnavailable | SinkRejected | None:
    """What an Alertmanager client error means for the sink contract; None when it cannot tell."""
    if isinstance(exc, AlertmanagerHTTPError):
        reason = f"Alertmanager {exc}"
        if exc.status >= 500 or exc.status == 429:
            return SinkUnavailable(reason)
        if 400 <= exc.status < 500:
            return SinkRejected(reason)
        return None
    if isinstance(exc, (aiohttp.ClientConnectionError, asyncio.TimeoutError, OSError)):
        return SinkUnavailable(f"Alertmanager unreachable: {type(exc).__name__}: {exc}")
    return None


class AlertmanagerSink(Sink):
    """POSTs alerts to `<url>/api/v2/alerts`, one request per batch."""

    name = "alertmanager"

    def __init__(self, url: str) -> None:
        self.endpoint = f"{url.rstrip('/')}/api/v2/alerts"
        self._session: aiohttp.ClientSession | None = None

    def _client(self) -> aiohttp.ClientSession:
        # Created on first use: a session belongs to the event loop that runs the writes.
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=_TIMEOUT)
        return self._session

    async def write(self, records: Sequence[Any]) -> None:
        if not records:
            return
        with classified(classify):
            async with self._client().post(self.endpoint, json=list(records)) as response:
                if response.status >= 300:
                    body = (await response.text(errors="replace"))[:_REASON_BODY_CHARS]
                    raise AlertmanagerHTTPError(response.status, body.strip())

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
