"""The worker's start-up probe: PostgreSQL and the TSDB tried once, before anything is consumed.

Why it exists: a worker with a wrong password, token or database name would otherwise start,
consume, and retry every batch forever with its sinks degraded, while the operator looks for the
cause in `/health`. A permanent refusal (`SinkMisconfigured`: bad credentials, missing database)
stops it at start with one line per sink naming the cause. A server that cannot be reached is no
verdict on the configuration: the worker logs `waiting for <sink>` and starts, and the sinks'
own retries take over (the pipelines hold their records until the server answers).

What it must not do: write data, create databases, or retry.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from common.settings import Settings
from streams.pipeline.sink import SinkMisconfigured, SinkUnavailable
from streams.sinks import influx, postgres

log = logging.getLogger(__name__)

Probe = Callable[[Settings], Awaitable[None]]

PROBES: tuple[tuple[str, Probe], ...] = (
    ("postgres", lambda settings: postgres.probe(settings.database_url)),
    ("tsdb", influx.probe),
)
"""(sink name as `/health` shows it, probe) of every sink a worker cannot work without."""


class StartupRefused(RuntimeError):
    """A sink refused this worker's configuration; the message has one line per sink."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))


async def probe_sinks(settings: Settings) -> None:
    """Probe every sink in `PROBES` at once; raise `StartupRefused` naming each refusal."""
    results = await asyncio.gather(*(probe(settings) for _, probe in PROBES),
                                   return_exceptions=True)
    refused: list[str] = []
    for (name, _), result in zip(PROBES, results, strict=True):
        if isinstance(result, SinkMisconfigured):
            refused.append(f"{name}: {result.reason}")
        elif isinstance(result, SinkUnavailable):
            log.warning("waiting for %s: %s (the worker starts; the sink retries)", name,
                        result.reason)
        elif isinstance(result, BaseException):
            raise result
        else:
            log.info("startup.probe sink=%s ok", name)
    if refused:
        raise StartupRefused(refused)
