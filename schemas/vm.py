"""`vm.sample/1`: one VM's raw libvirt counters at one moment, as the VM agent publishes them.

Why it exists: the VM agent (producers/vm) and the stream workers (streams/agents/vm.py) agree on
this shape for `telemetry.vm` (key = the VM's UUID). Counters are the raw cumulative values libvirt
reports (rates are computed downstream, reset-aware); memory figures are the balloon statistics
converted from KiB to bytes. A group libvirt did not report (a shut-off VM has no CPU time, a
driver without balloon support has no memory figures) is `None`, never a made-up 0.

What it must not do: compute rates or know about libvirt's wire format (the agent converts).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import ClassVar, Literal

from pydantic import Field, field_validator

from schemas.event import MAX_PARTS, Count, Event, Identifier, NonNegativeInt, Part

# libvirt's virDomainState, by name, in the order of its numeric codes.
VM_STATES: tuple[str, ...] = (
    "nostate", "running", "blocked", "paused", "shutdown", "shutoff", "crashed", "pmsuspended",
)
VmState = Literal[
    "nostate", "running", "blocked", "paused", "shutdown", "shutoff", "crashed", "pmsuspended",
]

NIC_COUNTERS: tuple[str, ...] = (
    "rx_bytes", "rx_packets", "rx_errs", "rx_drop", "tx_bytes", "tx_packets", "tx_errs", "tx_drop",
)
DISK_COUNTERS: tuple[str, ...] = ("rd_reqs", "rd_bytes", "wr_reqs", "wr_bytes", "errs")
MEMORY_FIELDS: tuple[str, ...] = (
    "memory_actual_bytes", "memory_available_bytes", "memory_usable_bytes", "memory_rss_bytes",
    "memory_unused_bytes", "memory_swap_in_bytes", "memory_swap_out_bytes",
    "memory_major_faults", "memory_minor_faults", "memory_maximum_bytes",
)


class VmNic(Part):
    """Cumulative counters of one virtual NIC (named by its host-side target device)."""

    name: Identifier
    rx_bytes: NonNegativeInt
    rx_packets: NonNegativeInt
    rx_errs: NonNegativeInt
    rx_drop: NonNegativeInt
    tx_bytes: NonNegativeInt
    tx_packets: NonNegativeInt
    tx_errs: NonNegativeInt
    tx_drop: NonNegativeInt


class VmDisk(Part):
    """Cumulative counters of one virtual disk (named by its guest target, e.g. `vda`).

    `errs` is optional: QEMU does not report it (only some hypervisors do).
    """

    name: Identifier
    rd_reqs: NonNegativeInt
    rd_bytes: NonNegativeInt
    wr_reqs: NonNegativeInt
    wr_bytes: NonNegativeInt
    errs: NonNegativeInt | None = None


def _unique_names(items: Sequence[VmNic | VmDisk], what: str) -> None:
    names = [item.name for item in items]
    if len(names) != len(set(names)):
        raise ValueError(f"{what} names must be unique, got {names}")


class VmSample(Event):
    """One VM's state and raw counters; published by `fleetstream vm-agent` once per poll."""

    SCHEMA: ClassVar[str] = "vm.sample/1"
    schema_name: Literal["vm.sample/1"] = Field(default="vm.sample/1", alias="schema")

    host: Identifier
    vm_uuid: uuid.UUID
    vm_name: Identifier
    state: VmState
    cpu_time_ns: NonNegativeInt | None = None
    cpu_user_ns: NonNegativeInt | None = None
    """Guest time in user mode (libvirt `cpu.user`); not every driver reports it."""
    cpu_system_ns: NonNegativeInt | None = None
    """Guest time in kernel mode (libvirt `cpu.system`); not every driver reports it."""
    vcpus: Count | None = None
    memory_actual_bytes: NonNegativeInt | None = None
    memory_available_bytes: NonNegativeInt | None = None
    memory_usable_bytes: NonNegativeInt | None = None
    memory_rss_bytes: NonNegativeInt | None = None
    memory_unused_bytes: NonNegativeInt | None = None
    memory_swap_in_bytes: NonNegativeInt | None = None
    memory_swap_out_bytes: NonNegativeInt | None = None
    memory_major_faults: NonNegativeInt | None = None
    memory_minor_faults: NonNegativeInt | None = None
    memory_maximum_bytes: NonNegativeInt | None = None
    """The most memory the VM may be given (libvirt `balloon.maximum`), the ceiling of `actual`."""
    nics: list[VmNic] = Field(default_factory=list, max_length=MAX_PARTS)
    disks: list[VmDisk] = Field(default_factory=list, max_length=MAX_PARTS)

    @field_validator("nics")
    @classmethod
    def _nic_names_unique(cls, nics: list[VmNic]) -> list[VmNic]:
        _unique_names(nics, "nic")
        return nics

    @field_validator("disks")
    @classmethod
    def _disk_names_unique(cls, disks: list[VmDisk]) -> list[VmDisk]:
        _unique_names(disks, "disk")
        return disks

    @property
    def key(self) -> bytes:
        """The topic key: the VM's UUID, so one VM's samples stay in order on one partition."""
        return str(self.vm_uuid).encode()
