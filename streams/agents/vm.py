"""VM samples: `telemetry.vm` -> per-VM state (rates, angles) -> InfluxDB `vm`, `vm_nic`, `vm_disk`.

Why it exists: this is the glue around `streams.domain.vm` (where the math lives). Per batch
(`BATCH_MAX_LINES` / `BATCH_MAX_SEC`) it advances each VM's state sample by sample, writes one
point per sample to the three measurements in one batched InfluxDB write, and only then stores the
new states (`KeyedState.put`); Faust acknowledges the batch's offsets after that.

Order: points first, state second. This agent is the only writer of the VM table, so nothing can
change a state between computing and storing it. A crash after the write but before the commit
redelivers the batch against the old state, which recomputes the very same points (same series,
same event timestamps, same values): rewriting them is harmless. Storing first would make the
redelivered samples look old and their points would never be written.

What it must not do: compute rates itself, or write a point for a duplicate/out-of-order sample.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from schemas.vm import VM_STATES, VmSample
from streams import topics
from streams.app import app, settings
from streams.batches import Decoded, decode_batch
from streams.domain.vm import DISK_PREFIX, NIC_PREFIX, VM_GROUP, State, advance
from streams.sinks import influx
from streams.sinks.influx import line
from streams.state import KeyedState

log = logging.getLogger(__name__)

state = KeyedState("vms", topics.vm,
                   help="VM state by vm_uuid: last counters, rates and angle_deg per rate.")

# Fields of the `vm` measurement besides the `vm` group's counters, rates and angles.
_VM_FIELDS = ("vcpus", "memory_actual_bytes", "memory_available_bytes", "memory_usable_bytes",
              "memory_rss_bytes", "memory_unused_bytes", "memory_swap_in_bytes",
              "memory_swap_out_bytes", "memory_major_faults", "memory_minor_faults")


def _figures(group: Mapping[str, Any]) -> dict[str, Any]:
    return {**group["counters"], **group["rates"], **group["angles"]}


def influx_lines(vm_state: Mapping[str, Any]) -> list[str]:
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
    return [point for point in points if point is not None]


def fold(decoded: Sequence[Decoded[VmSample]],
         current: Mapping[str, State | None]) -> tuple[dict[str, tuple[State, int]], list[str]]:
    """Advance the VMs of a batch from `current`: (new state and partition per VM, points)."""
    latest: dict[str, tuple[State, int]] = {}
    lines: list[str] = []
    for item in decoded:
        key = str(item.event.vm_uuid)
        previous = latest[key][0] if key in latest else current.get(key)
        new = advance(previous, item.event)
        if new is None:
            log.debug("vm.sample_skipped vm_uuid=%s event_id=%s reason=not_newer",
                      key, item.event.event_id)
            continue
        latest[key] = (new, item.partition)
        lines.extend(influx_lines(new))
    return latest, lines


async def handle(decoded: Sequence[Decoded[VmSample]]) -> None:
    keys: Iterable[str] = {str(item.event.vm_uuid) for item in decoded}
    latest, lines = fold(decoded, {key: state.get(key) for key in keys})
    if lines:
        await influx().write(lines, what="vm")
    for key, (new, partition) in latest.items():
        state.put(key, new, partition)


@app.agent(topics.vm)
async def process(stream: Any) -> None:
    async for records in stream.take_events(settings.batch_max_lines,
                                            within=settings.batch_max_sec):
        await handle(await decode_batch(records, VmSample))
