"""`fleetstream vm-agent [--once]`: publish libvirt statistics of every VM to `telemetry.vm`.

Runs until SIGINT/SIGTERM with seed 002's control API on FLEETSTREAM_VM_AGENT_PORT; `--once`
runs one cycle, waits (up to `--flush-timeout`) for Kafka to acknowledge it and exits, without
the control API. Exit status 1 when libvirt could not be read or, with `--once`, when Kafka did
not acknowledge in time (the samples stay in the outbox and go out with the next run).

libvirt, aiohttp and prometheus_client are imported when the command runs, not when the CLI
builds its parser: every other command (a node agent among them) would carry them otherwise.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
from typing import TYPE_CHECKING, Any

from common.process import load_settings, stop_on_signals
from common.settings import VM_AGENT, Settings, mask_url

if TYPE_CHECKING:
    from producers.vm.agent import VmAgent

log = logging.getLogger(__name__)


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "vm-agent", help="publish libvirt VM statistics (with seed 002's control API)")
    parser.add_argument("--once", action="store_true",
                        help="run one collection cycle, deliver it and exit")
    parser.add_argument("--flush-timeout", type=float, default=30.0, metavar="SECONDS",
                        help="how long to wait for Kafka to acknowledge on exit (default 30)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    settings = load_settings(VM_AGENT)
    return asyncio.run(_main(settings, once=args.once, flush_timeout=args.flush_timeout))


async def _main(settings: Settings, *, once: bool, flush_timeout: float) -> int:
    from producers.metrics import AgentMetrics
    from producers.publisher import Publisher
    from producers.vm.agent import VmAgent
    from producers.vm.libvirt_source import LibvirtSource

    source = LibvirtSource(settings.libvirt_uri, timeout=settings.libvirt_timeout,
                           device_cache_ttl=settings.device_cache_ttl)
    publisher = Publisher("vm-agent", settings)
    await publisher.start()
    metrics = None if once else AgentMetrics("vm-agent", publisher.name, publisher.stats)
    agent = VmAgent(settings, source, publisher, metrics)
    log.info("vm_agent.starting uri=%s topic=%s poll_interval=%gs once=%s",
             mask_url(settings.libvirt_uri), settings.topic("vm"), settings.poll_interval, once)
    try:
        status = await (_once(agent) if once else _forever(agent, settings))
    finally:
        delivered = await publisher.stop(flush_timeout)
        await source.close()
    if not delivered:
        log.warning("vm_agent.undelivered reason='Kafka did not acknowledge within %gs; "
                    "kept in the outbox for the next run'", flush_timeout)
        if once:
            return 1
    return status


async def _once(agent: VmAgent) -> int:
    from producers.vm.libvirt_source import LibvirtUnavailable

    try:
        samples = await agent.cycle()
    except LibvirtUnavailable as exc:
        log.error("vm_agent.collect_failed error=%s", exc)
        return 1
    log.info("vm_agent.cycle_done samples=%d", len(samples))
    return 0


async def _forever(agent: VmAgent, settings: Settings) -> int:
    from producers.vm import api

    stopping = stop_on_signals()
    runner = await api.serve(agent, settings, agent.metrics)
    log.info("vm_agent.api_listening address=%s:%d start_stop=%s",
             settings.vm_agent_host, settings.vm_agent_port,
             "token" if settings.vm_agent_token else "disabled (no FLEETSTREAM_VM_AGENT_TOKEN)")
    try:
        await agent.run(stopping)
    finally:
        await runner.cleanup()
    return 0
