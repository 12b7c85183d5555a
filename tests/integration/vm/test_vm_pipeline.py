"""`fleetstream vm-agent --once` on libvirt's test driver, through Kafka, a worker, the TSDB."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from tests.integration.helpers import AppEnv, tsdb_export, wait_for
from tests.integration.vm.support import TEST_DOMAIN_UUID, vm_agent_once, vms


async def test_vm_agent_once_publishes_a_sample_that_becomes_rates_and_series(
        app_env: AppEnv) -> None:
    started_ms = time.time() * 1000
    worker = await app_env.start_worker()

    for _ in range(2):
        result = await vm_agent_once(app_env)
        assert result.returncode == 0, result.stderr

    records = await app_env.consume_all(app_env.topic("vm"), expect=2, timeout=20)
    assert [key for key, _ in records] == [TEST_DOMAIN_UUID.encode()] * 2
    sample = json.loads(records[0][1])
    assert sample["schema"] == "vm.sample/1"
    assert sample["vm_name"] == "test"
    assert sample["state"] == "running"
    assert sample["vcpus"] == 2
    assert sample["memory_actual_bytes"] == 2 * 1024**3
    assert [nic["name"] for nic in sample["nics"]] == ["testnet0"]
    assert [disk["name"] for disk in sample["disks"]] == ["vda"]
    # Seed 002's CPU split and maximum memory (the test driver answers them per domain).
    assert sample["cpu_user_ns"] > 0 and sample["cpu_system_ns"] > 0
    assert sample["memory_maximum_bytes"] == 8 * 1024**3

    async def vm_with_rates() -> dict[str, Any] | None:
        vm: dict[str, Any] | None = (await vms(worker.url)).get(TEST_DOMAIN_UUID)
        return vm if vm and vm["cpu_percent"] is not None else None

    vm = await wait_for(vm_with_rates, 30, what="cpu_percent of domain test in /vms")
    assert vm is not None
    assert vm["vm_name"] == "test"
    assert vm["cpu_time_ns_per_second"] > 0
    assert vm["nics"]["testnet0"]["rx_bytes_per_second"] >= 0
    assert vm["disks"]["vda"]["rd_iops"] >= 0
    assert vm["cpu_user_ns_per_second"] >= 0 and vm["cpu_system_percent"] >= 0
    assert vm["memory_maximum_bytes"] == 8 * 1024**3
    nic = vm["nics"]["testnet0"]
    assert nic["rx_errs"] >= 0 and nic["rx_errs_per_second"] >= 0
    assert nic["tx_drop_per_second"] >= 0

    wanted = {"vm_state_code", "vm_cpu_percent", "vm_nic_rx_bytes_per_second", "vm_disk_rd_iops",
              "vm_cpu_user_percent", "vm_nic_rx_drop_per_second"}

    async def series() -> list[dict[str, Any]] | None:
        # Every test run samples the same test-driver domain: only this run's points count.
        exported = await asyncio.to_thread(tsdb_export, app_env.env["INFLUX_URL"],
                                           f'{{__name__=~"vm_.*", vm_uuid="{TEST_DOMAIN_UUID}"}}')
        recent = [s for s in exported if max(s["timestamps"]) >= started_ms]
        return recent if wanted <= {s["metric"]["__name__"] for s in recent} else None

    found = await wait_for(series, 30, what=f"series {sorted(wanted)} in the TSDB")
    assert found is not None
    assert all(s["metric"]["vm_name"] == "test" for s in found)


async def test_invalid_vm_sample_goes_to_the_dead_letter_topic(app_env: AppEnv) -> None:
    await app_env.start_worker()
    bad = {"schema": "vm.sample/1", "event_id": "not-a-uuid", "vm_name": "web"}
    await app_env.produce(app_env.topic("vm"), [(b"web", json.dumps(bad).encode())])

    [(key, value)] = await app_env.consume_all(app_env.topic("deadletter"), expect=1, timeout=20)
    letter = json.loads(value)
    assert key == b"web"
    assert letter["origin_topic"] == app_env.topic("vm")
    assert {"event_id", "vm_uuid", "host", "state"} <= {e["field"] for e in letter["field_errors"]}

