"""LibvirtSource against libvirt's real test driver, with faults injected around it."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import libvirt
import pytest

from producers.vm.libvirt_source import NOWAIT, LibvirtSource, LibvirtUnavailable
from tests.data.libvirt_node import domain_uuid, write_node

DEFAULT = "test:///default"


def libvirt_error(code: int, message: str) -> libvirt.libvirtError:
    error = libvirt.libvirtError(message)
    error.err = (code, libvirt.VIR_FROM_NONE, message, libvirt.VIR_ERR_ERROR, "", "", "", 0, 0)
    return error


class Connection:
    """A real test-driver connection with hooks to make its calls misbehave."""

    def __init__(self, real: libvirt.virConnect) -> None:
        self.real = real
        self.stats_delay = 0.0
        self.reject_nowait = False
        self.stats_flags: list[int] = []
        self.xml_reads = 0

    def getAllDomainStats(self, stats: int, flags: int) -> Any:
        self.stats_flags.append(flags)
        time.sleep(self.stats_delay)
        if self.reject_nowait and flags & NOWAIT:
            raise libvirt_error(libvirt.VIR_ERR_INVALID_ARG, "unsupported flags (0x20000000)")
        records = self.real.getAllDomainStats(stats=stats, flags=flags)
        return [(self._counting(dom), dom_stats) for dom, dom_stats in records]

    def _counting(self, domain: libvirt.virDomain) -> Any:
        connection = self

        class Domain:
            def __getattr__(self, name: str) -> Any:
                return getattr(domain, name)

            def XMLDesc(self, flags: int) -> str:
                connection.xml_reads += 1
                xml: str = domain.XMLDesc(flags)
                return xml

        return Domain()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)


class Opener:
    """Opens real connections wrapped in `Connection`; remembers every one it opened."""

    def __init__(self) -> None:
        self.opened: list[Connection] = []

    def __call__(self, uri: str) -> Any:
        self.opened.append(Connection(libvirt.open(uri)))
        return self.opened[-1]


def source(opener: Opener, uri: str = DEFAULT, **kwargs: Any) -> LibvirtSource:
    options: dict[str, Any] = {"timeout": 5.0, "device_cache_ttl": 300.0, **kwargs}
    return LibvirtSource(uri, opener=opener, **options)


async def test_collects_the_default_domain_with_every_group() -> None:
    collector = source(Opener())
    [domain] = await collector.collect()
    await collector.close()
    assert domain.name == "test"
    assert domain.stats["state.state"] == libvirt.VIR_DOMAIN_RUNNING
    # The test driver's bulk call has the state only; the rest was read per domain.
    assert domain.stats["cpu.time"] > 0 and domain.stats["vcpu.current"] == 2
    assert domain.stats["cpu.user"] > 0 and domain.stats["cpu.system"] > 0
    assert domain.stats["balloon.maximum"] == 8_388_608
    assert domain.stats["net.0.name"] == "testnet0" and domain.stats["block.0.name"] == "vda"


async def test_a_500_domain_node_is_one_bulk_call_per_cycle(tmp_path: Path) -> None:
    opener = Opener()
    collector = source(opener, write_node(tmp_path, 500))
    domains = await collector.collect()
    await collector.close()
    assert len(domains) == 500
    assert {d.uuid for d in domains} == {domain_uuid(i) for i in range(500)}
    assert all(d.stats["block.count"] == 2 and d.stats["net.count"] == 1 for d in domains)
    assert opener.opened[0].stats_flags == [NOWAIT]


async def test_driver_rejecting_nowait_is_asked_without_it_from_then_on() -> None:
    opener = Opener()
    collector = source(opener)
    first = await collector.collect()
    connection = opener.opened[0]
    connection.reject_nowait = True
    second = await collector.collect()
    third = await collector.collect()
    await collector.close()
    assert len(first) == len(second) == len(third) == 1
    assert connection.stats_flags == [NOWAIT, NOWAIT, 0, 0]


async def test_hung_libvirt_call_times_out_and_the_next_cycle_reconnects() -> None:
    opener = Opener()
    collector = source(opener, timeout=0.3)
    await collector.collect()
    opener.opened[0].stats_delay = 3.0
    started = time.monotonic()
    with pytest.raises(LibvirtUnavailable, match=r"LIBVIRT_TIMEOUT=0\.3s"):
        await collector.collect()
    # Well under the 3 s stall (a loaded machine may take a while past the 0.3 s timeout).
    assert time.monotonic() - started < 2.0
    assert not collector.connected
    [domain] = await collector.collect()  # a fresh thread and connection, not the stuck one
    await collector.close()
    assert domain.name == "test" and len(opener.opened) == 2


async def test_closed_connection_fails_one_cycle_then_reconnects() -> None:
    opener = Opener()
    collector = source(opener)
    await collector.collect()
    opener.opened[0].real.close()
    with pytest.raises(LibvirtUnavailable, match="invalid connection"):
        await collector.collect()
    [domain] = await collector.collect()
    await collector.close()
    assert domain.name == "test" and len(opener.opened) == 2


async def test_unreachable_libvirt_is_reported_with_the_uri_masked() -> None:
    collector = LibvirtSource("qemu+tcp://admin:s3cret@127.0.0.1:1/system", timeout=5.0,
                              device_cache_ttl=300.0)
    with pytest.raises(LibvirtUnavailable) as raised:
        await collector.collect()
    await collector.close()
    assert "s3cret" not in str(raised.value) and "admin:***@127.0.0.1" in str(raised.value)


async def test_device_names_are_read_from_the_xml_once_per_ttl() -> None:
    now = [0.0]
    opener = Opener()
    collector = source(opener, device_cache_ttl=60.0, clock=lambda: now[0])
    await collector.collect()
    await collector.collect()
    reads_within_ttl = opener.opened[0].xml_reads
    now[0] = 61.0
    await collector.collect()
    await collector.close()
    assert reads_within_ttl == 1
    assert opener.opened[0].xml_reads == 2
