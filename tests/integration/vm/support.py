"""Helpers of the VM integration tests: running the agent, reading the VM view."""

from __future__ import annotations

import asyncio
import subprocess
from typing import Any

from tests.integration.helpers import AppEnv, ahttp

TEST_DOMAIN_UUID = "6695eb01-f6a4-8304-79aa-97f2502e193f"  # domain `test` of test:///default


async def vm_agent_once(app_env: AppEnv,
                        uri: str = "test:///default") -> subprocess.CompletedProcess[str]:
    """`fleetstream vm-agent --once` against `uri`; its flush waits at most 5 s for Kafka."""
    return await asyncio.to_thread(app_env.run_cli, "vm-agent", "--once", "--flush-timeout", "5",
                                   LIBVIRT_URI=uri)


async def vms(url: str) -> dict[str, Any]:
    """`GET /vms` of a worker: vm_uuid -> latest figures."""
    status, body = await ahttp("GET", f"{url}/vms")
    assert status == 200, body
    assert body["count"] == len(body["vms"])
    result: dict[str, Any] = body["vms"]
    return result
