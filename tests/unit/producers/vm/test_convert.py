"""libvirt statistics -> VmSample (producers.vm.convert)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from producers.vm.convert import devices_from_xml, per_domain_stats, sample_from_stats, state_name
from schemas.vm import VmSample

AT = datetime(2025, 10, 10, 12, 0, tzinfo=UTC)
UUID = "6695eb01-f6a4-8304-79aa-97f2502e193f"

# A QEMU domain's virConnectGetAllDomainStats record (libvirt 9), trimmed of unused stats.
QEMU_STATS = {
    "state.state": 1, "state.reason": 1,
    "cpu.time": 123_456_789_000, "cpu.user": 100_000_000_000, "cpu.system": 20_000_000_000,
    "balloon.current": 4_194_304, "balloon.maximum": 4_194_304, "balloon.swap_in": 0,
    "balloon.swap_out": 8, "balloon.major_fault": 712, "balloon.minor_fault": 1_503_214,
    "balloon.unused": 3_014_656, "balloon.available": 4_026_000, "balloon.usable": 3_500_000,
    "balloon.last-update": 1_728_561_600, "balloon.rss": 1_200_000,
    "vcpu.current": 4, "vcpu.maximum": 4, "vcpu.0.state": 1, "vcpu.0.time": 30_000_000_000,
    "net.count": 1, "net.0.name": "vnet3", "net.0.rx.bytes": 9_000, "net.0.rx.pkts": 90,
    "net.0.rx.errs": 0, "net.0.rx.drop": 1, "net.0.tx.bytes": 7_000, "net.0.tx.pkts": 70,
    "net.0.tx.errs": 0, "net.0.tx.drop": 0,
    "block.count": 2,
    "block.0.name": "vda", "block.0.path": "/var/lib/libvirt/images/web.qcow2",
    "block.0.rd.reqs": 10, "block.0.rd.bytes": 40_960, "block.0.rd.times": 5,
    "block.0.wr.reqs": 20, "block.0.wr.bytes": 81_920, "block.0.wr.times": 9,
    "block.0.fl.reqs": 3, "block.0.fl.times": 1, "block.0.allocation": 1, "block.0.capacity": 2,
    "block.1.name": "sda",
    "block.1.rd.reqs": 1, "block.1.rd.bytes": 2048, "block.1.wr.reqs": 0, "block.1.wr.bytes": 0,
}


def convert(stats: Mapping[str, Any]) -> VmSample:
    return sample_from_stats(stats, host="kvm1", vm_uuid=UUID, vm_name="web", source="a", at=AT)


def test_qemu_bulk_stats_become_a_sample_in_base_units() -> None:
    sample = convert(QEMU_STATS)
    assert sample.state == "running"
    assert sample.cpu_time_ns == 123_456_789_000 and sample.vcpus == 4
    assert sample.memory_actual_bytes == 4_194_304 * 1024
    assert sample.memory_rss_bytes == 1_200_000 * 1024
    assert sample.memory_swap_out_bytes == 8 * 1024
    assert sample.memory_major_faults == 712 and sample.memory_minor_faults == 1_503_214
    assert [(n.name, n.rx_bytes, n.rx_packets, n.rx_drop, n.tx_bytes) for n in sample.nics] == [
        ("vnet3", 9_000, 90, 1, 7_000)]
    assert [(d.name, d.rd_reqs, d.wr_bytes, d.errs) for d in sample.disks] == [
        ("vda", 10, 81_920, None), ("sda", 1, 0, None)]
    assert sample.key == UUID.encode()


def test_shut_off_domain_has_state_only() -> None:
    sample = convert({"state.state": 5, "state.reason": 1})
    assert sample.state == "shutoff"
    assert sample.cpu_time_ns is None and sample.memory_actual_bytes is None
    assert sample.nics == [] and sample.disks == []


def test_unknown_state_code_is_nostate() -> None:
    assert state_name(42) == "nostate"


def test_negative_counter_is_rejected() -> None:
    with pytest.raises(ValidationError):
        convert({**QEMU_STATS, "net.0.rx.bytes": -5})


def test_per_domain_calls_rebuild_the_bulk_format() -> None:
    stats = per_domain_stats(
        [1, 8_388_608, 2_097_152, 2, 5_000_000_000],
        {"actual": 2_097_152, "rss": 1_048_576, "swap_in": 0},
        {"testnet0": [100, 10, 0, 0, 50, 5, 0, 0]},
        {"vda": [7, 4096, 3, 1024, -1]},
    )
    sample = convert(stats)
    assert sample.cpu_time_ns == 5_000_000_000 and sample.vcpus == 2
    assert sample.memory_actual_bytes == 2 * 1024**3
    assert sample.nics[0].name == "testnet0" and sample.nics[0].tx_bytes == 50
    # -1 is the per-device calls' "not kept by this hypervisor".
    assert sample.disks[0].rd_reqs == 7 and sample.disks[0].errs is None


def test_device_names_come_from_the_domain_xml() -> None:
    xml = """<domain><devices>
      <disk device='disk'><target dev='vda'/></disk>
      <disk device='cdrom'><target dev='sda'/></disk>
      <interface type='network'><target dev='vnet0'/></interface>
      <interface type='network'><mac address='52:54:00:00:00:01'/></interface>
    </devices></domain>"""
    devices = devices_from_xml(xml)
    assert devices.disks == ("vda", "sda")
    assert devices.nics == ("vnet0",)


def test_seed_002_cpu_user_system_and_maximum_memory_are_carried() -> None:
    sample = convert(QEMU_STATS)
    assert sample.cpu_user_ns == 100_000_000_000 and sample.cpu_system_ns == 20_000_000_000
    assert sample.memory_maximum_bytes == 4_194_304 * 1024
    nic = sample.nics[0]
    assert (nic.rx_errs, nic.rx_drop, nic.tx_errs, nic.tx_drop) == (0, 1, 0, 0)


def test_driver_without_cpu_user_system_or_maximum_leaves_them_none() -> None:
    trimmed = {k: v for k, v in QEMU_STATS.items()
               if k not in {"cpu.user", "cpu.system", "balloon.maximum"}}
    sample = convert(trimmed)
    assert sample.cpu_user_ns is None and sample.cpu_system_ns is None
    assert sample.memory_maximum_bytes is None and sample.cpu_time_ns == 123_456_789_000


def test_per_domain_calls_carry_cpu_split_and_maximum_memory() -> None:
    info = [1, 8_388_608, 2_097_152, 2, 5_000_000_000]
    with_cpu = convert(per_domain_stats(
        info, {}, {}, {}, {"cpu_time": 5_000_000_000, "user_time": 3_000, "system_time": 1_000}))
    assert (with_cpu.cpu_user_ns, with_cpu.cpu_system_ns) == (3_000, 1_000)
    assert with_cpu.memory_maximum_bytes == 8 * 1024**3
    without = convert(per_domain_stats(info, {}, {}, {}, None))
    assert without.cpu_user_ns is None and without.cpu_system_ns is None
