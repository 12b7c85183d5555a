"""Seed 002's REST control API, served by the VM agent process itself (aiohttp).

Why it exists: operators (and the seed's dashboard buttons) start and stop VM telemetry collection
at run time and look at what the agent is doing, without restarting it:

    POST /api/telemetry/start    resume collecting          GET /api/telemetry/status
    POST /api/telemetry/stop     pause collecting           GET /api/telemetry/vms
                                                            GET /api/telemetry/config (masked)

What it must not do: show a secret (config goes through `Settings.masked()`), or collect itself.
"""

from __future__ import annotations

from aiohttp import web

from common.settings import Settings
from producers.vm.agent import VmAgent


def create_app(agent: VmAgent, settings: Settings) -> web.Application:
    """The control API's aiohttp application for `agent`."""

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
        return web.json_response(settings.masked())

    app = web.Application()
    app.add_routes([
        web.post("/api/telemetry/start", start),
        web.post("/api/telemetry/stop", stop),
        web.get("/api/telemetry/status", status),
        web.get("/api/telemetry/vms", vms),
        web.get("/api/telemetry/config", config),
    ])
    return app


async def serve(agent: VmAgent, settings: Settings) -> web.AppRunner:
    """Start the control API on FLEETSTREAM_VM_AGENT_HOST:PORT; the caller cleans up the runner."""
    runner = web.AppRunner(create_app(agent, settings), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, settings.vm_agent_host, settings.vm_agent_port).start()
    return runner
