"""The VM agent's loop: every POLL_INTERVAL, collect all domains, convert, enqueue for Kafka.

Why it exists: this is the producer behind `telemetry.vm`. One cycle is one bulk libvirt call
(`LibvirtSource`), a pure conversion per domain (`convert.sample_from_stats`) and ONE durable outbox
transaction for all samples (`Publisher.publish_many`), so a cycle never waits on Kafka. While
libvirt is unreachable the loop retries with capped exponential backoff. Collection can be paused
and resumed at run time (seed 002's control API, `producers.vm.api`); the agent keeps what the API
reports: status counters and the latest sample per VM.

What it must not do: compute rates (the stream workers do, reset-aware), or block the event loop.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import socket
import time
from typing import Any

from pydantic import ValidationError

from common.settings import Settings, mask_url
from producers.metrics import AgentMetrics
from producers.publisher import Publisher, backoff_delay
from producers.vm.convert import sample_from_stats
from producers.vm.libvirt_source import LibvirtSource, LibvirtUnavailable
from schemas.event import now_utc
from schemas.vm import VmSample

log = logging.getLogger(__name__)

MAX_RECONNECT_DELAY = 30.0


class VmAgent:
    """Polls libvirt and publishes one `VmSample` per domain per cycle; can be paused."""

    def __init__(self, settings: Settings, source: LibvirtSource, publisher: Publisher,
                 metrics: AgentMetrics | None = None) -> None:
        self._settings = settings
        self._source = source
        self._publisher = publisher
        self.metrics = metrics
        self._topic = settings.topic("vm")
        self.source_name = f"vm-agent@{socket.gethostname()}"
        self.collecting = True
        self._wake = asyncio.Event()
        self.latest: dict[str, VmSample] = {}
        self.cycles = 0
        self.samples_published = 0
        self.invalid_samples = 0
        self.consecutive_failures = 0
        self.last_cycle_at: float | None = None
        self.last_cycle_seconds: float | None = None
        self.last_error: str | None = None

    async def cycle(self) -> list[VmSample]:
        """Collect, convert and enqueue every domain once; raises `LibvirtUnavailable`."""
        started = time.perf_counter()
        domains = await self._source.collect()
        at = now_utc()
        samples = []
        for domain in domains:
            try:
                samples.append(sample_from_stats(
                    domain.stats, host=self._source.host, vm_uuid=domain.uuid,
                    vm_name=domain.name, source=self.source_name, at=at))
            except ValidationError as exc:
                # One odd domain must not cost the others their sample.
                self.invalid_samples += 1
                if self.metrics is not None:
                    self.metrics.collection_failed()
                log.warning("vm.sample_invalid vm_uuid=%s vm_name=%s errors=%d first=%s",
                            domain.uuid, domain.name, exc.error_count(),
                            exc.errors(include_url=False)[0]["msg"])
        await self._publisher.publish_many(
            [(self._topic, sample.key, sample.encode()) for sample in samples])
        if self.metrics is not None and samples:
            self.metrics.published(len(samples), at.timestamp())
        self.latest = {str(sample.vm_uuid): sample for sample in samples}
        self.cycles += 1
        self.samples_published += len(samples)
        self.last_cycle_at = time.time()
        self.last_cycle_seconds = time.perf_counter() - started
        self.consecutive_failures = 0
        self.last_error = None
        log.debug("vm.cycle domains=%d samples=%d seconds=%.3f",
                  len(domains), len(samples), self.last_cycle_seconds)
        return samples

    async def run(self, stopping: asyncio.Event) -> None:
        """Cycle every POLL_INTERVAL (while collecting) until `stopping` is set."""
        interval = self._settings.poll_interval
        while not stopping.is_set():
            started = time.monotonic()
            delay = interval
            if self.collecting:
                try:
                    await self.cycle()
                except LibvirtUnavailable as exc:
                    self.consecutive_failures += 1
                    if self.metrics is not None:
                        self.metrics.collection_failed()
                    self.last_error = str(exc)
                    delay = backoff_delay(self.consecutive_failures, interval,
                                          max(interval, MAX_RECONNECT_DELAY))
                    log.warning("vm.collect_failed attempt=%d retry_in=%.2fs error=%s",
                                self.consecutive_failures, delay, exc)
            await self._sleep(max(0.0, delay - (time.monotonic() - started)), stopping)

    async def _sleep(self, seconds: float, stopping: asyncio.Event) -> None:
        """Sleep until the next cycle, a `start()` or shutdown, whichever comes first."""
        self._wake.clear()
        waiters = {asyncio.ensure_future(stopping.wait()), asyncio.ensure_future(self._wake.wait())}
        try:
            await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()

    def start(self) -> bool:
        """Resume collecting now; False if it was already collecting."""
        was = self.collecting
        self.collecting = True
        self._wake.set()
        log.info("vm.collection_started")
        return not was

    def stop(self) -> bool:
        """Pause collecting after the current cycle; False if it was already paused."""
        was = self.collecting
        self.collecting = False
        log.info("vm.collection_stopped")
        return was

    async def status(self) -> dict[str, Any]:
        publisher = await self._publisher.stats()
        return {
            "collecting": self.collecting,
            "libvirt_uri": mask_url(self._source.uri),
            "connected": self._source.connected,
            "host": self._source.host,
            "poll_interval_seconds": self._settings.poll_interval,
            "cycles": self.cycles,
            "samples_published": self.samples_published,
            "invalid_samples": self.invalid_samples,
            "vms": len(self.latest),
            "last_cycle_at": self.last_cycle_at,
            "last_cycle_seconds": self.last_cycle_seconds,
            "consecutive_failures": self.consecutive_failures,
            "last_error": self.last_error,
            "publisher": dataclasses.asdict(publisher),
        }

    def vms(self) -> list[dict[str, Any]]:
        """The VMs of the last successful cycle, as the control API lists them."""
        return [
            {
                "vm_uuid": uuid,
                "vm_name": sample.vm_name,
                "host": sample.host,
                "state": sample.state,
                "vcpus": sample.vcpus,
                "memory_actual_bytes": sample.memory_actual_bytes,
                "nics": [nic.name for nic in sample.nics],
                "disks": [disk.name for disk in sample.disks],
                "sampled_at": sample.ts.isoformat(),
            }
            for uuid, sample in sorted(self.latest.items(), key=lambda kv: kv[1].vm_name)
        ]
