"""The VM agent's side of libvirt: one connection, one thread, one bulk statistics call per cycle.

Why it exists: libvirt-python is blocking, and a hypervisor (or the SSH/TLS link to it) can hang.
Every libvirt call therefore runs on one dedicated thread, bounded by LIBVIRT_TIMEOUT; a call that
times out abandons that thread and its connection (a stuck C call cannot be cancelled) and the next
cycle reconnects on a fresh thread. A failed call closes the connection for the same reason.

Each cycle is ONE `virConnectGetAllDomainStats` call for every domain, with
`VIR_CONNECT_GET_ALL_DOMAINS_STATS_NOWAIT` (a domain busy in a job, e.g. a migration, answers with
what it has instead of stalling the whole cycle), dropped for good on this connection if the
driver rejects the flag. Some drivers (libvirt's `test:///` driver among them) answer the bulk
call with the state group only; on such a connection, and only there, the missing groups are read
per domain, for the NICs and disks named in the domain's XML, cached for DEVICE_CACHE_TTL.

What it must not do: block the event loop; log the connection URI unmasked.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

import libvirt

from common.settings import mask_url
from producers.vm.convert import Devices, devices_from_xml, per_domain_stats

log = logging.getLogger(__name__)

T = TypeVar("T")

STATS = (
    libvirt.VIR_DOMAIN_STATS_STATE
    | libvirt.VIR_DOMAIN_STATS_CPU_TOTAL
    | libvirt.VIR_DOMAIN_STATS_BALLOON
    | libvirt.VIR_DOMAIN_STATS_VCPU
    | libvirt.VIR_DOMAIN_STATS_INTERFACE
    | libvirt.VIR_DOMAIN_STATS_BLOCK
)
NOWAIT = libvirt.VIR_CONNECT_GET_ALL_DOMAINS_STATS_NOWAIT
# What a driver answers for a flag it does not know.
_FLAG_REJECTED = {libvirt.VIR_ERR_INVALID_ARG, libvirt.VIR_ERR_NO_SUPPORT}
# A domain that went away or stopped between the bulk call and a per-domain call: skip it.
_DOMAIN_GONE = {libvirt.VIR_ERR_NO_DOMAIN, libvirt.VIR_ERR_OPERATION_INVALID}
_ACTIVE_STATES = {libvirt.VIR_DOMAIN_RUNNING, libvirt.VIR_DOMAIN_BLOCKED,
                  libvirt.VIR_DOMAIN_PAUSED}


class LibvirtUnavailable(RuntimeError):
    """libvirt could not be reached or did not answer in time; the next cycle reconnects."""


@dataclass(frozen=True, slots=True)
class DomainStats:
    """One domain's statistics from one cycle, in the bulk call's dict format."""

    uuid: str
    name: str
    stats: dict[str, Any]


def _ignore_libvirt_error(_ctx: object, _err: object) -> None:
    """libvirt prints every error to stderr by default; ours are raised and logged instead."""


def _close_quietly(conn: libvirt.virConnect) -> None:
    try:
        conn.close()
    except libvirt.libvirtError as exc:
        log.debug("libvirt.close_failed error=%s", exc)


class LibvirtSource:
    """Collects every domain's statistics from `uri`, reconnecting as needed."""

    def __init__(
        self,
        uri: str,
        *,
        timeout: float,
        device_cache_ttl: float,
        opener: Callable[[str], libvirt.virConnect] = libvirt.open,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        libvirt.registerErrorHandler(_ignore_libvirt_error, None)
        self.uri = uri
        self._timeout = timeout
        self._ttl = device_cache_ttl
        self._opener = opener
        self._clock = clock
        self._executor = self._new_executor()
        self._conn: libvirt.virConnect | None = None
        self.host = ""
        self._nowait = True
        # Whether this connection's bulk call was seen to carry CPU time for a running domain.
        self._bulk_complete = False
        self._devices: dict[str, tuple[float, Devices]] = {}

    @staticmethod
    def _new_executor() -> ThreadPoolExecutor:
        return ThreadPoolExecutor(max_workers=1, thread_name_prefix="libvirt")

    @property
    def connected(self) -> bool:
        return self._conn is not None

    async def _call(self, what: str, fn: Callable[..., T], *args: Any) -> T:
        """Run one blocking libvirt call on the libvirt thread, bounded by LIBVIRT_TIMEOUT."""
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(self._executor, fn, *args)
        try:
            return await asyncio.wait_for(future, self._timeout)
        except TimeoutError:
            self._abandon()
            raise LibvirtUnavailable(
                f"libvirt call {what} took longer than LIBVIRT_TIMEOUT={self._timeout:g}s"
            ) from None

    def _abandon(self) -> None:
        """Leave a hung thread and its connection behind; later calls get a fresh thread."""
        stuck, self._executor = self._executor, self._new_executor()
        stuck.shutdown(wait=False)
        conn, self._conn = self._conn, None
        if conn is not None:
            # Closing may wait on the hung call; never on the event loop or the new thread.
            threading.Thread(target=_close_quietly, args=(conn,), daemon=True).start()

    async def _drop_connection(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            await self._call("close", _close_quietly, conn)

    async def _connection(self) -> libvirt.virConnect:
        if self._conn is not None:
            return self._conn

        def open_connection() -> tuple[libvirt.virConnect, str]:
            conn = self._opener(self.uri)
            return conn, conn.getHostname()

        try:
            self._conn, self.host = await self._call("open", open_connection)
        except libvirt.libvirtError as exc:
            raise LibvirtUnavailable(
                f"cannot connect to {mask_url(self.uri)}: {exc.get_error_message()}") from None
        self._nowait = True
        self._bulk_complete = False
        self._devices.clear()
        log.info("libvirt.connected uri=%s host=%s", mask_url(self.uri), self.host)
        return self._conn

    async def collect(self) -> list[DomainStats]:
        """Every domain's statistics now; raises `LibvirtUnavailable` (connection dropped)."""
        conn = await self._connection()
        try:
            records = await self._call("getAllDomainStats", self._bulk, conn)
            if not self._bulk_complete:
                return await self._fill_in(records)
        except libvirt.libvirtError as exc:
            await self._drop_connection()
            raise LibvirtUnavailable(
                f"libvirt at {mask_url(self.uri)} failed: {exc.get_error_message()}") from None
        return [domain for _dom, domain in records]

    def _bulk(self, conn: libvirt.virConnect) -> list[tuple[libvirt.virDomain, DomainStats]]:
        if self._nowait:
            try:
                records = conn.getAllDomainStats(stats=STATS, flags=NOWAIT)
            except libvirt.libvirtError as exc:
                if exc.get_error_code() not in _FLAG_REJECTED:
                    raise
                log.info("libvirt.nowait_unsupported uri=%s error=%s",
                         mask_url(self.uri), exc.get_error_message())
                self._nowait = False
                records = conn.getAllDomainStats(stats=STATS, flags=0)
        else:
            records = conn.getAllDomainStats(stats=STATS, flags=0)
        # name() and UUIDString() are answered from the domain object, without a round trip.
        return [(dom, DomainStats(dom.UUIDString(), dom.name(), stats)) for dom, stats in records]

    async def _fill_in(
        self, records: list[tuple[libvirt.virDomain, DomainStats]]
    ) -> list[DomainStats]:
        """Complete records of a driver whose bulk call leaves groups out (see module doc).

        All domains' calls go to the libvirt thread as one job (two with XML to read): a thread
        hop per domain would cost more than the calls themselves.
        """
        active = [(dom, d) for dom, d in records if d.stats.get("state.state") in _ACTIVE_STATES]
        if any("cpu.time" in d.stats for _dom, d in active):
            self._bulk_complete = True
            return [domain for _dom, domain in records]
        now = self._clock()
        stale = [(dom, d.uuid) for dom, d in active
                 if d.uuid not in self._devices or self._devices[d.uuid][0] <= now]
        if stale:
            for uuid, xml in (await self._call("XMLDesc", _read_xml, stale)).items():
                if xml is None:
                    self._devices.pop(uuid, None)
                else:
                    self._devices[uuid] = (now + self._ttl, devices_from_xml(xml))
        jobs = [(dom, d, self._devices[d.uuid][1]) for dom, d in active if d.uuid in self._devices]
        filled = await self._call("domain stats", _per_domain, jobs)
        return [filled.get(d.uuid, d) for _dom, d in records]

    async def close(self) -> None:
        if self._conn is not None:
            await self._drop_connection()
        self._executor.shutdown(wait=False)


def _read_xml(domains: list[tuple[libvirt.virDomain, str]]) -> dict[str, str | None]:
    """Each domain's XML by UUID; None for a domain that went away meanwhile."""
    result: dict[str, str | None] = {}
    for dom, uuid in domains:
        try:
            result[uuid] = dom.XMLDesc(0)
        except libvirt.libvirtError as exc:
            if exc.get_error_code() not in _DOMAIN_GONE:
                raise
            result[uuid] = None
    return result


def _cpu_totals(dom: libvirt.virDomain) -> dict[str, int] | None:
    """The domain's total CPU, user and system time; None where the driver has no such call."""
    try:
        totals = dom.getCPUStats(True)
    except libvirt.libvirtError as exc:
        if exc.get_error_code() != libvirt.VIR_ERR_NO_SUPPORT:
            raise
        return None
    return dict(totals[0]) if totals else None


def _per_domain(
    jobs: list[tuple[libvirt.virDomain, DomainStats, Devices]],
) -> dict[str, DomainStats]:
    """The bulk records completed from per-domain calls; domains gone meanwhile are left as is."""
    filled = {}
    for dom, domain, devices in jobs:
        try:
            stats = per_domain_stats(
                dom.info(),
                dom.memoryStats(),
                {nic: dom.interfaceStats(nic) for nic in devices.nics},
                {disk: dom.blockStats(disk) for disk in devices.disks},
                _cpu_totals(dom),
            )
        except libvirt.libvirtError as exc:
            if exc.get_error_code() not in _DOMAIN_GONE:
                raise
            continue
        filled[domain.uuid] = DomainStats(domain.uuid, domain.name, {**stats, **domain.stats})
    return filled
