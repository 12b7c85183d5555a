"""Seed 002's control API on a running `fleetstream vm-agent`: over a 500-domain test node, and
its security (bearer token for start/stop, cross-origin refused, secrets masked) and /metrics."""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.data.libvirt_node import write_node
from tests.integration.helpers import FLEETSTREAM, REPO, AppEnv, ahttp, free_port, wait_for

SECRET = "influx-token-do-not-show"
TOKEN = "vm-agent-token-do-not-show"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@contextmanager
def running_agent(app_env: AppEnv, tmp_path: Path, name: str, **env: str) -> Iterator[str]:
    """A running VM agent with `env`; yields its API's base URL; checks its exit and log.

    No worker runs, so the topic does not exist: the samples wait in the outbox, and the agent
    gives up waiting for Kafka 2 s after SIGTERM.
    """
    port = free_port()
    log_path = tmp_path / f"{name}.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [FLEETSTREAM, "vm-agent", "--flush-timeout", "2"], cwd=REPO, stdout=log,
            stderr=subprocess.STDOUT, start_new_session=True,
            env=app_env.with_overrides(FLEETSTREAM_VM_AGENT_PORT=str(port), **env))
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            exit_code = proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
        logged = log_path.read_text()
        assert exit_code == 0, logged
        for secret in (SECRET, TOKEN):
            assert secret not in logged


@pytest.fixture
def agent(app_env: AppEnv, tmp_path: Path) -> Iterator[str]:
    """A VM agent polling a 500-domain node every 0.2 s; yields its API's URL."""
    with running_agent(app_env, tmp_path, "vm-agent", LIBVIRT_URI=write_node(tmp_path, 500),
                       POLL_INTERVAL="0.2", INFLUX_TOKEN=SECRET,
                       FLEETSTREAM_VM_AGENT_TOKEN=TOKEN) as base:
        yield f"{base}/api/telemetry"


@pytest.fixture
def small_agent(app_env: AppEnv, tmp_path: Path) -> Callable[..., Any]:
    """Start an agent on libvirt's one-domain `test:///default` with extra settings."""
    def start(name: str, **env: str) -> Any:
        return running_agent(app_env, tmp_path, name, **{
            "LIBVIRT_URI": "test:///default", "POLL_INTERVAL": "0.5", **env})
    return start


async def answering(url: str) -> Any:
    try:
        status, body = await ahttp("GET", url)
    except OSError:
        return None
    return body if status == 200 else None


async def get(url: str) -> Any:
    status, body = await ahttp("GET", url)
    assert status == 200, body
    return body


async def test_control_api_reports_pauses_and_resumes_collection(agent: str) -> None:
    async def cycles_done(at_least: int) -> Any:
        try:
            status = await get(f"{agent}/status")
        except OSError:
            return None
        return status if status["cycles"] >= at_least else None

    status = await wait_for(lambda: cycles_done(2), 30, what="two collection cycles")
    # How long a cycle takes here (500 domains on a loaded machine can take longer than the
    # 0.2 s poll interval): the pause is judged against several of them, not a fixed second.
    loop = asyncio.get_running_loop()
    started, from_cycle = loop.time(), status["cycles"]
    timed = await wait_for(lambda: cycles_done(from_cycle + 3), 60, what="three more cycles")
    cycle_seconds = (loop.time() - started) / (timed["cycles"] - from_cycle)
    assert status["collecting"] is True and status["connected"] is True
    assert status["vms"] == 500 and status["last_error"] is None
    assert status["publisher"]["dropped"] == 0

    listed = await get(f"{agent}/vms")
    assert listed["count"] == 500
    first = listed["vms"][0]
    assert first["vm_name"] == "vm-0000" and first["state"] == "running"
    assert first["disks"] == ["vda", "vdb"] and len(first["nics"]) == 1

    assert await ahttp("POST", f"{agent}/stop", headers=AUTH) == (
        200, {"status": "stopped", "collecting": False})
    paused_at = (await get(f"{agent}/status"))["cycles"]
    # A /stop that did nothing would run 4 more cycles in this time; at most the cycle that was
    # under way may finish.
    await asyncio.sleep(max(4 * cycle_seconds, 1.0))
    after_pause = await get(f"{agent}/status")
    assert after_pause["collecting"] is False
    assert after_pause["cycles"] <= paused_at + 1, (paused_at, after_pause, cycle_seconds)

    assert await ahttp("POST", f"{agent}/start", headers=AUTH) == (
        200, {"status": "started", "collecting": True})
    await wait_for(lambda: cycles_done(after_pause["cycles"] + 2), 10,
                   what="collection to resume")
    assert (await ahttp("POST", f"{agent}/start", headers=AUTH))[1]["status"] == \
        "already running"


async def test_config_shows_the_agents_settings_with_secrets_masked(agent: str) -> None:
    shown = await wait_for(lambda: answering(f"{agent}/config"), 30, what="the control API")
    assert shown["FLEETSTREAM_VM_AGENT_TOKEN"] == "***"
    assert TOKEN not in str(shown)
    assert shown["LIBVIRT_URI"].startswith("test:///")
    assert shown["POLL_INTERVAL"] == "0.2"
    assert {"KAFKA_BOOTSTRAP_SERVERS", "DEVICE_CACHE_TTL", "LIBVIRT_TIMEOUT",
            "FLEETSTREAM_OUTBOX_MAX_EVENTS"} <= shown.keys()
    # The worker writes InfluxDB, not this agent: its settings are not this agent's to show.
    assert "INFLUX_TOKEN" not in shown and "DATABASE_URL" not in shown


async def test_start_stop_need_the_bearer_token_and_refuse_other_origins(agent: str) -> None:
    await wait_for(lambda: answering(f"{agent}/status"), 30, what="the control API")
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}):
        for action in ("stop", "start"):
            status, body = await ahttp("POST", f"{agent}/{action}", headers=headers)
            assert status == 401, (headers, body)
            assert body == {"error": "missing or wrong bearer token"}
    assert (await answering(f"{agent}/status"))["collecting"] is True  # nothing changed

    own = agent.removesuffix("/api/telemetry")
    status, body = await ahttp("POST", f"{agent}/stop",
                               headers={**AUTH, "Origin": "http://evil.example"})
    assert (status, body) == (403, {"error": "cross-origin requests are refused"})
    status, _ = await ahttp("GET", f"{agent}/config", headers={"Origin": "http://evil.example"})
    assert status == 403
    assert (await answering(f"{agent}/status"))["collecting"] is True

    status, body = await ahttp("POST", f"{agent}/stop", headers={**AUTH, "Origin": own})
    assert (status, body) == (200, {"status": "stopped", "collecting": False})


async def test_without_a_configured_token_start_stop_are_refused_with_the_fix(
        small_agent: Callable[..., Any]) -> None:
    with small_agent("no-token") as base:
        api = f"{base}/api/telemetry"
        await wait_for(lambda: answering(f"{api}/status"), 30, what="the control API")
        for action in ("stop", "start"):
            status, body = await ahttp("POST", f"{api}/{action}", headers=AUTH)
            assert status == 403
            assert "set FLEETSTREAM_VM_AGENT_TOKEN" in body["error"]


async def test_config_masks_passwords_and_tokens_in_url_query_strings(
        small_agent: Callable[..., Any]) -> None:
    uri = f"test:///default?password={SECRET}&token={SECRET}&mode=direct"
    with small_agent("masking", FLEETSTREAM_VM_AGENT_TOKEN=TOKEN, LIBVIRT_URI=uri) as base:
        shown = await wait_for(lambda: answering(f"{base}/api/telemetry/config"), 30,
                               what="the control API")
        status = await answering(f"{base}/api/telemetry/status")
    assert SECRET not in str(shown) and TOKEN not in str(shown) and SECRET not in str(status)
    assert shown["FLEETSTREAM_VM_AGENT_TOKEN"] == "***"
    assert shown["LIBVIRT_URI"] == "test:///default?password=***&token=***&mode=direct"


async def test_metrics_of_the_running_agent_parse_as_prometheus_text(
        small_agent: Callable[..., Any]) -> None:
    async def scrape(base: str) -> dict[str, float] | None:
        try:
            status, text = await ahttp("GET", f"{base}/metrics")
        except OSError:
            return None
        assert status == 200, text
        found = {s.name: s.value for family in text_string_to_metric_families(text)
                 for s in family.samples}
        return found if found.get("fleetstream_agent_snapshots_total", 0) >= 2 else None

    with small_agent("metrics") as base:
        found = await wait_for(lambda: scrape(base), 30, what="two samples in /metrics")
    assert found is not None
    assert found["fleetstream_agent_collection_errors_total"] == 0
    assert found["fleetstream_agent_publish_seconds_count"] >= 2
    assert found["fleetstream_outbox_events"] >= 2  # no topic yet: the samples wait
    assert found["fleetstream_outbox_oldest_age_seconds"] > 0
    assert found["fleetstream_outbox_dropped_total"] == 0
