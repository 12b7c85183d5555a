"""libvirt's statistics, as plain data, turned into `VmSample` events; pure, no libvirt calls.

Why it exists: libvirt reports a domain's statistics as a flat dict of typed parameters
(`cpu.time`, `balloon.rss` in KiB, `net.0.rx.bytes`, `block.1.wr.reqs`, ...). This module is the
one place that knows those names and units, so the conversion is tested on its own with recorded
dicts, and the per-domain fallback (drivers whose bulk call leaves groups out) builds the same
dict instead of a second conversion. It also reads NIC and disk names out of a domain's XML.

What it must not do: call libvirt or do I/O.
"""

from __future__ import annotations

import uuid
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from schemas.vm import VM_STATES, VmDisk, VmNic, VmSample

KIB = 1024

# balloon.<name> (KiB unless noted) -> VmSample field.
_BALLOON_BYTES = {
    "current": "memory_actual_bytes",
    "available": "memory_available_bytes",
    "usable": "memory_usable_bytes",
    "rss": "memory_rss_bytes",
    "unused": "memory_unused_bytes",
    "swap_in": "memory_swap_in_bytes",
    "swap_out": "memory_swap_out_bytes",
    "maximum": "memory_maximum_bytes",
}
_BALLOON_COUNTS = {"major_fault": "memory_major_faults", "minor_fault": "memory_minor_faults"}

# net.<i>.<stat> -> VmNic field, in the order virDomainInterfaceStats returns them.
_NIC_STATS = {
    "rx.bytes": "rx_bytes", "rx.pkts": "rx_packets", "rx.errs": "rx_errs", "rx.drop": "rx_drop",
    "tx.bytes": "tx_bytes", "tx.pkts": "tx_packets", "tx.errs": "tx_errs", "tx.drop": "tx_drop",
}
# block.<i>.<stat> -> VmDisk field, in the order virDomainBlockStats returns them.
_DISK_STATS = {
    "rd.reqs": "rd_reqs", "rd.bytes": "rd_bytes", "wr.reqs": "wr_reqs", "wr.bytes": "wr_bytes",
    "errs": "errs",
}
# virDomainMemoryStats keys -> the balloon.<name> the bulk call uses for the same figure.
_MEMORY_STATS_AS_BALLOON = {"actual": "current"}


@dataclass(frozen=True, slots=True)
class Devices:
    """A domain's NIC target devices and disk targets, as named in its XML."""

    nics: tuple[str, ...]
    disks: tuple[str, ...]


def devices_from_xml(xml: str) -> Devices:
    """NIC and disk target names from a domain's XML (`<target dev=...>`); devices without one
    (a NIC of a shut-off VM has no host-side device yet) are left out."""
    root = ET.fromstring(xml)
    nics = tuple(target.get("dev", "") for target in root.findall("./devices/interface/target"))
    disks = tuple(target.get("dev", "") for target in root.findall("./devices/disk/target"))
    return Devices(nics=tuple(n for n in nics if n), disks=tuple(d for d in disks if d))


def state_name(code: int) -> str:
    """libvirt's numeric domain state as its name; unknown codes (newer libvirt) are `nostate`."""
    return VM_STATES[code] if 0 <= code < len(VM_STATES) else "nostate"


def _indexed(
    stats: Mapping[str, Any], group: str, names: Mapping[str, str]
) -> list[dict[str, Any]]:
    items = []
    for index in range(int(stats.get(f"{group}.count", 0))):
        name = stats.get(f"{group}.{index}.name")
        if not name:
            continue
        item: dict[str, Any] = {"name": name}
        for stat, field in names.items():
            value = stats.get(f"{group}.{index}.{stat}")
            if value is not None:
                item[field] = value
        items.append(item)
    return items


def sample_from_stats(
    stats: Mapping[str, Any],
    *,
    host: str,
    vm_uuid: str,
    vm_name: str,
    source: str,
    at: datetime,
) -> VmSample:
    """One `VmSample` from a domain's bulk statistics (`virConnectGetAllDomainStats` record)."""
    fields: dict[str, Any] = {
        "event_id": uuid.uuid4(),
        "source": source,
        "ts": at,
        "host": host,
        "vm_uuid": vm_uuid,
        "vm_name": vm_name,
        "state": state_name(int(stats.get("state.state", 0))),
        "cpu_time_ns": stats.get("cpu.time"),
        "cpu_user_ns": stats.get("cpu.user"),
        "cpu_system_ns": stats.get("cpu.system"),
        "vcpus": stats.get("vcpu.current"),
    }
    for name, field in _BALLOON_BYTES.items():
        value = stats.get(f"balloon.{name}")
        fields[field] = None if value is None else int(value) * KIB
    for name, field in _BALLOON_COUNTS.items():
        fields[field] = stats.get(f"balloon.{name}")
    nics = [VmNic.model_validate(nic) for nic in _indexed(stats, "net", _NIC_STATS)]
    disks = [VmDisk.model_validate(disk) for disk in _indexed(stats, "block", _DISK_STATS)]
    return VmSample.model_validate({**fields, "nics": nics, "disks": disks})


# virDomainGetCPUStats (total) keys -> the bulk call's name for the same figure.
_CPU_STATS = {"user_time": "cpu.user", "system_time": "cpu.system"}


def per_domain_stats(
    info: Sequence[int],
    memory: Mapping[str, int],
    nics: Mapping[str, Sequence[int]],
    disks: Mapping[str, Sequence[int]],
    cpu: Mapping[str, int] | None = None,
) -> dict[str, Any]:
    """The bulk-call statistics dict rebuilt from the per-domain calls.

    `info` is virDomainGetInfo (state, max KiB, KiB, vcpus, cpu ns), `memory` virDomainMemoryStats,
    `nics`/`disks` virDomainInterfaceStats/virDomainBlockStats per device name, `cpu` the total
    of virDomainGetCPUStats (None where the driver does not support it).
    """
    state, max_kib, _kib, vcpus, cpu_time = info[:5]
    stats: dict[str, Any] = {"state.state": state, "cpu.time": cpu_time, "vcpu.current": vcpus,
                             "balloon.maximum": max_kib}
    for name, stat in _CPU_STATS.items():
        if cpu is not None and cpu.get(name) is not None:
            stats[stat] = cpu[name]
    for name, value in memory.items():
        stats[f"balloon.{_MEMORY_STATS_AS_BALLOON.get(name, name)}"] = value
    for group, devices, names in (("net", nics, _NIC_STATS), ("block", disks, _DISK_STATS)):
        stats[f"{group}.count"] = len(devices)
        for index, (device, values) in enumerate(devices.items()):
            stats[f"{group}.{index}.name"] = device
            for stat, value in zip(names, values, strict=False):
                # The per-device calls answer -1 for a counter the hypervisor does not keep.
                if value >= 0:
                    stats[f"{group}.{index}.{stat}"] = value
    return stats
