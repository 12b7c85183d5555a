"""List views that are complete with any number of workers: scatter to every owner, gather.

Why it exists: a worker only holds the table partitions it owns, so `GET /jobs` (or `/workers`,
`/nodes`, `/vms`) answered from one worker's table would miss the rest. `gather` asks every host
that owns partitions of the table for its local part (`?scope=local`, answered from
`KeyedState.owned_items()`), merges the parts, and answers locally when it is the only owner.
Per-key views use Faust's `@app.table_route` instead, which forwards to the key's owner, and
answer 404 with `value_or_404` for a key never heard of.

While a worker rebalances or recovers its tables (from Faust's rebalance start until it logs
"Worker ready"), its tables hold only part of the keys it owns: both kinds of view answer 503
then (`serving_or_503`), since its part of a list, or a 404 for a key still being restored,
would be a wrong answer that looks right. Found by `tests/faults/test_three_workers.py`: during
a rebalance `/jobs` answered 200 with 34 of 64 jobs.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from aiohttp import ClientError, ClientTimeout
from faust.web import Request
from faust.web.exceptions import NotFound, ServiceUnavailable
from faust.web.exceptions import ValidationError as BadRequest
from yarl import URL

from streams.app import app
from streams.faust_tuning import out_of_contact
from streams.state import KeyedState, State

LOCAL = "local"
_TIMEOUT = ClientTimeout(total=10)


def is_local_request(request: Request) -> bool:
    """True for a worker's request for this worker's part; 400 for any other `scope` (a
    misspelt one would otherwise answer the gathered whole, which looks like the part)."""
    scope = request.query.get("scope")
    if scope is not None and scope != LOCAL:
        raise BadRequest(f"scope must be {LOCAL!r} or absent")
    return scope == LOCAL


def serving_or_503() -> None:
    """503 while this worker rebalances or recovers its tables (they miss keys it owns), and
    while it has not heard from its consumer group for half a session (a network partition: its
    keys may be another worker's, its tables no longer move)."""
    if app.rebalancing or app.in_recovery:
        raise ServiceUnavailable("this worker is rebalancing its partitions; retry shortly")
    if out_of_contact(app):
        raise ServiceUnavailable("this worker has lost contact with its consumer group; its "
                                 "partitions may have moved: retry shortly")


def value_or_404(state: KeyedState, key: str, missing: str) -> State:
    """The key's value in this worker's table; 404 with `missing` as the reason otherwise
    (503 while the worker rebalances: the value may not be restored yet)."""
    serving_or_503()
    value = state.get(key)
    if value is None:
        raise NotFound(missing)
    return value


def _ident(url: str | URL) -> tuple[str, int]:
    parsed = URL(str(url))
    return parsed.host or "", int(parsed.port or 80)


async def _fetch_part(request: Request, host: str) -> dict[str, Any]:
    url = request.url.with_host(URL(host).host or "").with_port(URL(host).port)
    url = url.update_query(scope=LOCAL)
    try:
        async with app.http_client.get(url, timeout=_TIMEOUT) as response:
            if response.status != 200:
                raise ServiceUnavailable(f"worker {host} answered {response.status}")
            part: dict[str, Any] = await response.json()
            return part
    except (OSError, TimeoutError, ClientError) as exc:
        raise ServiceUnavailable(f"worker {host} did not answer: {exc}") from exc


async def gather(
    request: Request,
    state: KeyedState,
    local: Callable[[], dict[str, Any]],
) -> dict[str, Any]:
    """Merge `local()` of every worker owning partitions of `state` (a key -> value mapping)."""
    serving_or_503()
    if is_local_request(request):
        return local()
    me = _ident(app.conf.canonical_url)
    hosts = [host for host, topics in
             app.router.table_metadata(state.table.name).items()
             if any(topics.values()) and _ident(host) != me]
    parts = await asyncio.gather(*(_fetch_part(request, host) for host in hosts))
    merged = local()
    for part in parts:
        merged.update(part)
    return merged
