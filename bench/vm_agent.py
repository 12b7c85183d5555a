"""What one VM agent cycle costs for 500 domains, against the bare bulk libvirt call.

Why it exists: the VM agent polls every POLL_INTERVAL (1 s by default); a cycle (collect + convert
+ enqueue into the durable outbox) must stay a small fraction of that on a host with hundreds of
VMs. Uses libvirt's test driver with a generated 500-domain node (no hypervisor needed) and
measures, in the same run:

- baseline: the bare `getAllDomainStats` call alone (one bulk call, what libvirt itself costs);
- collect: `LibvirtSource.collect()` (the bulk call on the libvirt thread; on the test driver,
  whose bulk call has the state group only, plus the per-domain fill-in);
- the full agent cycle `VmAgent.cycle()`: collect + convert + one outbox transaction;
- stream side: per-sample cost of the VM domain's fold and projection (rates, angles, line
  protocol) against decoding the sample alone.

Kafka is not needed: the outbox is the end of a cycle (delivery runs in the background; here it
points at an unreachable broker and just backs off).

    python bench/vm_agent.py [--domains 500] [--cycles 20]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import libvirt  # noqa: E402

from common.settings import Settings  # noqa: E402
from producers.publisher import Publisher  # noqa: E402
from producers.vm.agent import VmAgent  # noqa: E402
from producers.vm.convert import devices_from_xml  # noqa: E402
from producers.vm.libvirt_source import NOWAIT, STATS, LibvirtSource  # noqa: E402
from tests.data.libvirt_node import write_node  # noqa: E402


async def timed(fn: Callable[[], Awaitable[object]], cycles: int) -> float:
    """Median seconds of `cycles` runs of `fn` after one warm-up run."""
    await fn()
    samples = []
    for _ in range(cycles):
        started = time.perf_counter()
        await fn()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


async def agent_side(uri: str, data_dir: Path, cycles: int) -> tuple[dict[str, float], list[bytes]]:
    settings = Settings.load({"LIBVIRT_URI": uri, "FLEETSTREAM_DATA_DIR": str(data_dir),
                              "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1",
                              "FLEETSTREAM_LOG_LEVEL": "error"}, dotenv=None)
    conn = libvirt.open(uri)

    async def bare() -> object:
        return conn.getAllDomainStats(stats=STATS, flags=NOWAIT)

    devices = {dom.UUIDString(): devices_from_xml(dom.XMLDesc(0))
               for dom in conn.listAllDomains()}

    async def bare_with_per_domain() -> object:
        # What libvirt itself costs on the test driver: the bulk call plus the per-domain calls
        # for the groups its bulk call leaves out (device names already known).
        records = conn.getAllDomainStats(stats=STATS, flags=NOWAIT)
        for dom, _stats in records:
            names = devices[dom.UUIDString()]
            dom.info()
            dom.memoryStats()
            for nic in names.nics:
                dom.interfaceStats(nic)
            for disk in names.disks:
                dom.blockStats(disk)
        return records

    source = LibvirtSource(uri, timeout=30, device_cache_ttl=300)
    publisher = Publisher("bench-vm-agent", settings)
    await publisher.start()
    agent = VmAgent(settings, source, publisher)
    try:
        results = {
            "bare getAllDomainStats (baseline)": await timed(bare, cycles),
            "bare bulk + per-domain calls": await timed(bare_with_per_domain, cycles),
            "LibvirtSource.collect": await timed(source.collect, cycles),
            "VmAgent.cycle (collect+convert+enqueue)": await timed(agent.cycle, cycles),
        }
        encoded = [sample.encode() for sample in await agent.cycle()]
    finally:
        await publisher.stop(0.1)
        await source.close()
        conn.close()
    return results, encoded


def stream_side(encoded: list[bytes], rounds: int) -> tuple[float, float]:
    """(decode-only, decode+fold) seconds per sample."""
    os.environ.setdefault("FLEETSTREAM_LOG_LEVEL", "error")
    from schemas.event import decode
    from schemas.vm import VmSample
    from streams.agents.vm import Vms

    domain = Vms(retention_s=86_400)

    def decode_all() -> list[VmSample]:
        return [decode(VmSample, raw) for raw in encoded]

    started = time.perf_counter()
    for _ in range(rounds):
        decode_all()
    decode_only = (time.perf_counter() - started) / (rounds * len(encoded))

    # Consecutive samples of the same VMs, one second apart, so every rate and angle is computed.
    batches = [[sample.model_copy(update={"ts": sample.ts + timedelta(seconds=shift)})
                for sample in decode_all()] for shift in range(rounds)]
    states: dict[str, dict[str, object] | None] = {}
    started = time.perf_counter()
    for batch in batches:
        for sample in batch:
            key = domain.key(sample)
            step = domain.fold(key, states.get(key), [sample], 0)
            domain.project(key, step.state, step)
            states[key] = step.state or states.get(key)
    folded = (time.perf_counter() - started) / (rounds * len(encoded))
    return decode_only, decode_only + folded


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--domains", type=int, default=500)
    parser.add_argument("--cycles", type=int, default=20)
    args = parser.parse_args()
    # The outbox's delivery to the unreachable broker is beside the point here.
    logging.basicConfig(level=logging.CRITICAL)
    libvirt.registerErrorHandler(lambda _ctx, _err: None, None)
    with tempfile.TemporaryDirectory() as tmp:
        uri = write_node(Path(tmp), args.domains)
        results, encoded = asyncio.run(agent_side(uri, Path(tmp) / "data", args.cycles))
    baseline = results["bare getAllDomainStats (baseline)"]
    libvirt_work = results["bare bulk + per-domain calls"]
    print(f"VM agent cycle, {args.domains} test-driver domains, median of {args.cycles} cycles")
    print(f"  {'':<42} {'':>12}   vs bulk   vs bulk+per-domain")
    for name, seconds in results.items():
        print(f"  {name:<42} {seconds * 1000:9.2f} ms   x{seconds / baseline:7.1f}"
              f"   x{seconds / libvirt_work:7.2f}")
    decode_only, processed = stream_side(encoded, rounds=5)
    print("Stream processing per sample (decode, then rates + angles + line protocol)")
    print(f"  {'decode only (baseline)':<42} {decode_only * 1e6:9.1f} us   x{1:7.1f}")
    print(f"  {'decode + fold':<42} {processed * 1e6:9.1f} us   x{processed / decode_only:7.1f}")


if __name__ == "__main__":
    main()
