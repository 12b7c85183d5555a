"""Seed 002's REST control API, served by the VM agent process itself (aiohttp), plus /metrics.

Why it exists: operators (and the seed's dashboard buttons) start and stop VM telemetry collection
at run time and look at what the agent is doing, without restarting it:

    POST /api/telemetry/start    resume collecting   (bearer token)   GET /api/telemetry/status
    POST /api/telemetry/stop     pause collecting    (bearer token)   GET /api/telemetry/vms
                                                                      GET /api/telemetry/config
    GET /metrics                 the agent's Prometheus metrics (`producers.metrics`)

Security: start/stop change what the agent does, so they need `Authorization: Bearer
<FLEETSTREAM_VM_AGENT_TOKEN>`; with no token configured they are refused (403) rather than open.
Any request carrying an `Origin` other than the API's own is refused (403): a web page the
operator happens to have open must not drive the API through their browser. `/config` shows the
VM agent's own settings through `Settings.masked()`: secrets as `***`, passwords in URLs
(user-info and query parameters such as `?password=` or `?token=`) masked.

What it must not do: show a secret, log a token, or collect itself.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Awaitable, Callable

from aiohttp import web

from common.settings import VM_AGENT, Settings
from producers.metrics import AgentMetrics
from producers.vm.agent import VmAgent

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

NO_TOKEN_CONFIGURED = (
    "start/stop are disabled: set FLEETSTREAM_VM_AGENT_TOKEN on the VM agent and send it as "
    "'Authorization: Bearer <token>'"
)


def _error(status: int, message: str, **headers: str) -> web.Response:
    return web.json_response({"error": message}, status=status, headers=headers or None)


def same_origin(request: web.Request) -> bool:
    """True unless the request carries an `Origin` that is not this server's own."""
    origin = request.headers.get("Origin")
    return origin is None or origin == f"{request.scheme}://{request.host}"


def authorized(request: web.Request, token: str) -> bool:
    """The request carries `Authorization: Bearer <token>` (compared in constant time)."""
    scheme, _, presented = request.headers.get("Authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(presented.strip().encode(),
                                                              token.encode())


def create_app(agent: VmAgent, settings: Settings,
               metrics: AgentMetrics | None = None) -> web.Application:
    """The control API's aiohttp application for `agent`."""
    token = settings.vm_agent_token

    @web.middleware
    async def refuse_cross_origin(request: web.Request, handler: Handler) -> web.StreamResponse:
        if not same_origin(request):
            log.warning("vm_api.cross_origin_refused path=%s", request.path)
            return _error(403, "cross-origin requests are refused")
        return await handler(request)

    def with_token(handler: Handler) -> Handler:
        async def checked(request: web.Request) -> web.StreamResponse:
            if not token:
                return _error(403, NO_TOKEN_CONFIGURED)
            if not authorized(request, token):
                log.warning("vm_api.unauthorized path=%s peer=%s", request.path, request.remote)
                return _error(401, "missing or wrong bearer token", **{
                    "WWW-Authenticate": 'Bearer realm="fleetstream-vm-agent"'})
            return await handler(request)
        return checked

    async def start(_request: web.Request) -> web.Response:
        changed = agent.start()
        return web.json_response({"status": "started" if changed else "already running",
                                  "collecting": agent.collecting})

    async def stop(_request: web.Request) -> web.Response:
        changed = agent.stop()
        return web.json_response({"status": "stopped" if changed else "already stopped",
                                  "collecting": agent.collecting})

    async def status(_request: web.Request) -> web.Response:
        return web.json_response(await agent.status())

    async def vms(_request: web.Request) -> web.Response:
        listed = agent.vms()
        return web.json_response({"count": len(listed), "vms": listed})

    async def config(_request: web.Request) -> web.Response:
        # Only what this process reads: the other sections' values here would be mere defaults.
        return web.json_response(settings.masked(VM_AGENT))

    async def serve_metrics(_request: web.Request) -> web.Response:
        if metrics is None:
            return _error(404, "metrics are not collected by this agent")
        body, content_type = await metrics.exposition()
        return web.Response(body=body, headers={"Content-Type": content_type})

    app = web.Application(middlewares=[refuse_cross_origin])
    app.add_routes([
        web.post("/api/telemetry/start", with_token(start)),
        web.post("/api/telemetry/stop", with_token(stop)),
        web.get("/api/telemetry/status", status),
        web.get("/api/telemetry/vms", vms),
        web.get("/api/telemetry/config", config),
        web.get("/metrics", serve_metrics),
    ])
    return app


async def serve(agent: VmAgent, settings: Settings,
                metrics: AgentMetrics | None = None) -> web.AppRunner:
    """Start the control API on FLEETSTREAM_VM_AGENT_HOST:PORT; the caller cleans up the runner."""
    runner = web.AppRunner(create_app(agent, settings, metrics), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, settings.vm_agent_host, settings.vm_agent_port).start()
    return runner
