"""Strict line-protocol writes to InfluxDB 1.x: a test fails on any line the server rejects.

Why it exists: the stack's TSDB (VictoriaMetrics) accepts almost anything; real InfluxDB refuses
malformed lines and field type conflicts. Tests send the sinks' batches here to catch both.
"""

from __future__ import annotations

from collections.abc import Sequence

import aiohttp


class InfluxRejected(AssertionError):
    """InfluxDB answered a write with a non-2xx status; the message carries its body."""

    def __init__(self, status: int, body: str) -> None:
        self.status = status
        self.body = body
        super().__init__(f"InfluxDB rejected the write with {status}: {body}")


async def write_lines_strict(url: str, db: str, lines: Sequence[str]) -> None:
    """POST `lines` to `{url}/write?db={db}`; raise `InfluxRejected` unless it answers 2xx."""
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(timeout=timeout) as session, session.post(
        f"{url}/write", params={"db": db, "precision": "ns"},
        data="\n".join(lines).encode(),
    ) as response:
        if not 200 <= response.status < 300:
            raise InfluxRejected(response.status, await response.text())
