"""Prometheus and Alertmanager in the stack: registered targets are scraped, alerts delivered."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import aiohttp
from aiohttp import web

from fleetstream.stack import Stack
from tests.integration.helpers import free_port, wait_for


async def get_json(url: str, **params: str) -> Any:
    async with aiohttp.ClientSession() as session, session.get(url, params=params) as response:
        assert response.status == 200, await response.text()
        return await response.json()


async def serve(app: web.Application, port: int) -> web.AppRunner:
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner


async def test_a_registered_target_is_scraped_and_an_unregistered_one_dropped(
    own_stack: Stack,
) -> None:
    job = f"job{uuid.uuid4().hex[:8]}"
    value = 17.25

    async def metrics(_: web.Request) -> web.Response:
        return web.Response(text=f"# TYPE stack_probe gauge\nstack_probe {value}\n")

    app = web.Application()
    app.router.add_get("/metrics", metrics)
    port = free_port()
    runner = await serve(app, port)
    url = own_stack.env()["PROMETHEUS_URL"]
    try:
        own_stack.register_target(job, "probe-1", f"127.0.0.1:{port}")

        async def scraped() -> list[Any]:
            body = await get_json(f"{url}/api/v1/query", query=f'stack_probe{{job="{job}"}}')
            result: list[Any] = body["data"]["result"]
            return result

        result = await wait_for(scraped, 30, 0.5, what="the target's sample in Prometheus")
        assert result[0]["metric"]["name"] == "probe-1"
        assert result[0]["metric"]["instance"] == f"127.0.0.1:{port}"
        assert float(result[0]["value"][1]) == value

        assert own_stack.unregister_target(job, "probe-1")

        async def dropped() -> bool:
            body = await get_json(f"{url}/api/v1/targets", state="active")
            return not any(t["labels"].get("job") == job for t in body["data"]["activeTargets"])

        await wait_for(dropped, 30, 0.5, what="the unregistered target to be dropped")
    finally:
        await runner.cleanup()


async def test_rule_files_of_the_rules_dir_are_loaded_and_fire_to_alertmanager(
    own_stack: Stack,
) -> None:
    env = own_stack.env()

    async def firing() -> list[Any]:
        body = await get_json(f"{env['ALERTMANAGER_URL']}/api/v2/alerts",
                              filter='alertname="StackTestAlwaysFiring"')
        alerts: list[Any] = body
        return alerts

    alerts = await wait_for(firing, 40, 0.5, what="the rule's alert in Alertmanager")
    assert alerts[0]["labels"]["severity"] == "none"


async def test_an_alert_posted_to_alertmanager_reaches_the_webhook(own_stack: Stack) -> None:
    received: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

    async def webhook(request: web.Request) -> web.Response:
        await received.put(await request.json())
        return web.Response(status=200)

    app = web.Application()
    app.router.add_post("/hook", webhook)
    port = free_port()
    runner = await serve(app, port)
    alertname = f"StackTest{uuid.uuid4().hex[:8]}"
    try:
        own_stack.alertmanager.set_webhook(f"http://127.0.0.1:{port}/hook")
        async with aiohttp.ClientSession() as session, session.post(
            f"{own_stack.env()['ALERTMANAGER_URL']}/api/v2/alerts",
            json=[{"labels": {"alertname": alertname, "job_id": "j-1"},
                   "annotations": {"summary": "backup job j-1 stalled"}}],
        ) as response:
            assert response.status == 200, await response.text()
        while True:
            notification = await asyncio.wait_for(received.get(), 30)
            if notification["groupLabels"].get("alertname") == alertname:
                break
        assert notification["status"] == "firing"
        [alert] = notification["alerts"]
        assert alert["labels"] == {"alertname": alertname, "job_id": "j-1"}
        assert alert["annotations"]["summary"] == "backup job j-1 stalled"
    finally:
        own_stack.alertmanager.set_webhook(None)
        await runner.cleanup()
