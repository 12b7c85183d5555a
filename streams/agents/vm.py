"""VM samples: `telemetry.vm` -> per-VM state (rates, angles) -> `vm`, `vm_nic`, `vm_disk` points.

Why it exists: it hands the runtime (`streams.pipeline`) the VM domain: each sample advances the
VM's state (`streams.domain.vm.advance`: reset-aware rates, angle_deg), every sample that did is
projected to its points (`streams.projections.vm`), and a VM silent for longer than its retention
(`FLEETSTREAM_RETENTION_SECONDS` vms=...) leaves the table. Duplicate and out-of-order samples
advance nothing and write nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from schemas.event import decode, epoch_micros
from schemas.vm import VmSample
from streams import tables, topics
from streams.app import settings
from streams.domain.vm import advance
from streams.pipeline.domain import Domain, Projected, Record, State, Step
from streams.pipeline.register import points, register
from streams.projections import vm as projection
from streams.projections.points import SINK as POINTS


class Vms(Domain[VmSample]):
    """VM samples folded into the latest state per VM, keyed by vm_uuid."""

    name = "vm"

    def __init__(self, retention_s: float) -> None:
        self.retention_s = retention_s

    def decode(self, record: Record, latest: datetime) -> VmSample:
        return decode(VmSample, record.value or b"", latest=latest)

    def key(self, event: VmSample) -> str:
        return str(event.vm_uuid)

    def event_us(self, event: VmSample) -> int:
        return epoch_micros(event.ts)

    def fold(self, key: str, before: State | None, events: Sequence[VmSample],
             now_us: int) -> Step:
        latest: State | None = None
        states: list[dict[str, Any]] = []
        for sample in events:
            new = advance(latest or before, sample)
            if new is not None:
                latest = new
                states.append(new)
        return Step(latest, emitted=states)

    def project(self, key: str, state: State | None, step: Step) -> Projected:
        point = projection.points(key, step.emitted)
        return {POINTS: [point] if point else []}

    def sweep(self, key: str, state: State, now_us: int) -> Step | None:
        silent_s = now_us / 1_000_000 - state["ts"]
        return Step(delete=True) if silent_s >= self.retention_s else None

    def sweep_due_us(self, state: State) -> int:
        # `ts` is float seconds: a microsecond early rather than a rounding late.
        return int((state["ts"] + self.retention_s) * 1_000_000) - 1


pipeline = register(Vms(settings.retention_seconds["vms"]), topics.vm, tables.vms, [points()],
                    sweep_quiet_s=settings.retention_seconds["vms"])
