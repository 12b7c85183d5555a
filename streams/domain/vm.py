"""VM rates and their direction of change, from one VM's consecutive `VmSample`s; pure functions.

Why it exists: the VM agent publishes raw cumulative counters (CPU time, NIC and disk counters).
Here they become per-second rates, reset-aware (a VM reboot or a re-plugged NIC restarts its
counters at 0: that gives no rate, never a negative one; see `streams.domain.rates`), CPU time
becomes a percentage of the VM's vCPUs, and each rate gets `angle_deg`, the direction of its
change: `degrees(atan2(rate_now - rate_prev, Δt_seconds))` (ARCHITECTURE.md §5).

Each VM's state is a JSON-compatible dict (it lives in a changelog-backed table): the last
sample's identity and memory figures, and per counter group (`vm`, `nic:<name>`, `disk:<name>`)
the counters, the rates and the angles. `advance(previous_state, sample)` gives the next state,
or None for a sample that is not newer than the state (a duplicate or out-of-order redelivery),
so replaying a topic gives the same states as processing it live.

What it must not do: I/O, or know about Faust, Kafka or line protocol.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from schemas.vm import DISK_COUNTERS, MEMORY_FIELDS, NIC_COUNTERS, VmSample
from streams.domain.rates import rates

NANOSECONDS = 1_000_000_000
ANGLE_SUFFIX = "_angle_deg"
VM_GROUP = "vm"
NIC_PREFIX = "nic:"
DISK_PREFIX = "disk:"

# Counter -> the name of its per-second rate, per kind of group.
VM_RATES = {
    "cpu_time_ns": "cpu_time_ns_per_second",
    "cpu_user_ns": "cpu_user_ns_per_second",
    "cpu_system_ns": "cpu_system_ns_per_second",
}
NIC_RATES = {
    "rx_bytes": "rx_bytes_per_second", "tx_bytes": "tx_bytes_per_second",
    "rx_packets": "rx_packets_per_second", "tx_packets": "tx_packets_per_second",
    "rx_errs": "rx_errs_per_second", "tx_errs": "tx_errs_per_second",
    "rx_drop": "rx_drop_per_second", "tx_drop": "tx_drop_per_second",
}
DISK_RATES = {
    "rd_bytes": "rd_bytes_per_second", "wr_bytes": "wr_bytes_per_second",
    "rd_reqs": "rd_iops", "wr_reqs": "wr_iops",
}
CPU_PERCENT = "cpu_percent"
# CPU time counter -> its share of the VM's vCPUs, in percent.
CPU_PERCENTS = {
    "cpu_time_ns": CPU_PERCENT,
    "cpu_user_ns": "cpu_user_percent",
    "cpu_system_ns": "cpu_system_percent",
}

State = dict[str, Any]
Rates = dict[str, float | None]


def angle_deg(rate_now: float, rate_prev: float, elapsed_seconds: float) -> float:
    """Direction of a rate's change in degrees, in (-90, 90] for a positive Δt: 0 is steady."""
    return math.degrees(math.atan2(rate_now - rate_prev, elapsed_seconds))


def angles(prev_rates: Mapping[str, float | None], now_rates: Mapping[str, float | None],
           elapsed_seconds: float) -> Rates:
    """`<rate>_angle_deg` for every rate that has a value now and had one in the previous state."""
    result: Rates = {}
    for name, now in now_rates.items():
        prev = prev_rates.get(name)
        result[name + ANGLE_SUFFIX] = (
            None if now is None or prev is None else angle_deg(now, prev, elapsed_seconds))
    return result


def cpu_percent(cpu_ns_per_second: float | None, vcpus: int | None) -> float | None:
    """CPU time rate as a percentage of the VM's vCPUs (100 = every vCPU busy all the time)."""
    if cpu_ns_per_second is None or not vcpus:
        return None
    return cpu_ns_per_second / NANOSECONDS / vcpus * 100


def counter_groups(sample: VmSample) -> dict[str, dict[str, int | None]]:
    """The sample's raw counters by group: `vm`, `nic:<name>`, `disk:<name>`."""
    groups: dict[str, dict[str, int | None]] = {
        VM_GROUP: {counter: getattr(sample, counter) for counter in VM_RATES}}
    for nic in sample.nics:
        groups[NIC_PREFIX + nic.name] = {c: getattr(nic, c) for c in NIC_COUNTERS}
    for disk in sample.disks:
        groups[DISK_PREFIX + disk.name] = {c: getattr(disk, c) for c in DISK_COUNTERS}
    return groups


def _rate_names(group: str) -> dict[str, str]:
    if group == VM_GROUP:
        return VM_RATES
    return NIC_RATES if group.startswith(NIC_PREFIX) else DISK_RATES


def _group_rates(group: str, prev_counters: Mapping[str, Any], prev_ts: float,
                 counters: Mapping[str, int | None], ts: float) -> Rates:
    names = _rate_names(group)
    wanted = {counter: counters.get(counter) for counter in names}
    return {names[counter]: value
            for counter, value in rates(prev_counters, prev_ts, wanted, ts).items()}


def advance(previous: Mapping[str, Any] | None, sample: VmSample) -> State | None:
    """The VM's state after `sample`; None when the sample is not newer than `previous`."""
    ts = sample.ts.timestamp()
    if previous is not None and ts <= previous["ts"]:
        return None
    # Without a previous state every group is new: no counters, no rates, so no figures yet.
    prev_ts = ts if previous is None else float(previous["ts"])
    prev_groups: Mapping[str, Any] = {} if previous is None else previous["groups"]
    groups: dict[str, Any] = {}
    for group, counters in counter_groups(sample).items():
        prev_group = prev_groups.get(group, {})
        group_rates = _group_rates(group, prev_group.get("counters", {}), prev_ts, counters, ts)
        if group == VM_GROUP:
            for counter, percent in CPU_PERCENTS.items():
                group_rates[percent] = cpu_percent(group_rates[VM_RATES[counter]], sample.vcpus)
        groups[group] = {
            "counters": counters,
            "rates": group_rates,
            "angles": angles(prev_group.get("rates", {}), group_rates, ts - prev_ts),
        }
    return {
        "ts": ts,
        "event_id": str(sample.event_id),
        "vm": {
            "host": sample.host,
            "vm_uuid": str(sample.vm_uuid),
            "vm_name": sample.vm_name,
            "state": sample.state,
            "vcpus": sample.vcpus,
            **{name: getattr(sample, name) for name in MEMORY_FIELDS},
        },
        "groups": groups,
    }


def summary(state: Mapping[str, Any]) -> dict[str, Any]:
    """A VM's latest figures as `GET /vms` shows them: identity, memory, rates and angles."""
    groups: Mapping[str, Any] = state["groups"]

    def figures(group: Mapping[str, Any]) -> dict[str, Any]:
        return {**group["counters"], **group["rates"], **group["angles"]}

    return {
        **state["vm"],
        "ts": state["ts"],
        **figures(groups[VM_GROUP]),
        "nics": {g.removeprefix(NIC_PREFIX): figures(v) for g, v in groups.items()
                 if g.startswith(NIC_PREFIX)},
        "disks": {g.removeprefix(DISK_PREFIX): figures(v) for g, v in groups.items()
                  if g.startswith(DISK_PREFIX)},
    }
