"""VM projections: the `vm`, `vm_nic` and `vm_disk` points of every VM sample.

Why it exists: a VM's state after each sample (`streams.domain.vm.advance`: counters, rates,
angle_deg) becomes one point per measurement at the sample's event time; identity is tags,
figures are fields. VMs have no PostgreSQL projection (seed 002 wrote InfluxDB only).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from schemas.vm import MEMORY_FIELDS, VM_STATES
from streams.domain.vm import DISK_PREFIX, NIC_PREFIX, VM_GROUP
from streams.projections.points import point_message
from streams.sinks.line_protocol import line
from streams.sinks.message import Message

# Fields of the `vm` measurement besides the `vm` group's counters, rates and angles.
_VM_FIELDS = ("vcpus", *MEMORY_FIELDS)


def _figures(group: Mapping[str, Any]) -> dict[str, Any]:
    return {**group["counters"], **group["rates"], **group["angles"]}


def lines(vm_state: Mapping[str, Any]) -> list[str | None]:
    """The `vm`, `vm_nic` and `vm_disk` points of one VM state, at its sample's event time."""
    vm = vm_state["vm"]
    at = datetime.fromtimestamp(vm_state["ts"], UTC)
    tags = {"host": vm["host"], "vm_uuid": vm["vm_uuid"], "vm_name": vm["vm_name"]}
    points = [line("vm", tags, {
        "state_code": VM_STATES.index(vm["state"]),
        **{name: vm[name] for name in _VM_FIELDS},
        **_figures(vm_state["groups"][VM_GROUP]),
    }, at)]
    for group, figures in vm_state["groups"].items():
        if group.startswith(NIC_PREFIX):
            points.append(line("vm_nic", {**tags, "nic": group.removeprefix(NIC_PREFIX)},
                               _figures(figures), at))
        elif group.startswith(DISK_PREFIX):
            points.append(line("vm_disk", {**tags, "disk": group.removeprefix(DISK_PREFIX)},
                               _figures(figures), at))
    return points


def points(vm_uuid: str, states: Sequence[Mapping[str, Any]]) -> Message | None:
    """The points of a VM's samples of one batch (one state per sample that advanced it)."""
    return point_message(vm_uuid, [text for state in states for text in lines(state)])
