"""One `NodeSnapshot` of this machine from psutil.

Why it exists: the node agent's only source. Every call here blocks (psutil reads /proc, and the
first CPU sample waits), so `NodeCollector.collect` must run on an executor thread, and always the
same one: `cpu_percent(interval=None)` measures since the previous call of that process.

Choices:
- disks: every mounted filesystem except pseudo/virtual ones (proc, tmpfs, cgroup, squashfs
  snaps, ...), one entry per device (bind mounts of one device are one disk), "/" first;
- network: cumulative bytes and packets of every interface except loopback (psutil un-wraps
  32-bit counters);
- connections: TCP connections established (or closing: the kernel's CurrEstab, ESTABLISHED +
  CLOSE-WAIT) on Linux, else established inet connections from psutil; where the OS refuses
  to list them (AccessDenied: other users' sockets on some systems), `active_connections` is
  None, never a made-up 0;
- a figure the platform lacks (load average, disk usage of a vanished mount) is None or skipped.

What it must not do: publish, compute rates, or run on the event loop.
"""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil

from schemas.event import now_utc
from schemas.node import PRIMARY_MOUNT, DiskUsage, NodeSnapshot, snapshot_event_id

log = logging.getLogger(__name__)

PSEUDO_FILESYSTEMS = frozenset({
    "autofs", "binfmt_misc", "bpf", "cgroup", "cgroup2", "configfs", "debugfs", "devpts",
    "devtmpfs", "efivarfs", "fusectl", "hugetlbfs", "mqueue", "nsfs", "proc", "pstore", "ramfs",
    "rpc_pipefs", "securityfs", "selinuxfs", "squashfs", "sysfs", "tmpfs", "tracefs",
    "fuse.gvfsd-fuse", "fuse.lxcfs", "fuse.portal",
})
LOOPBACK_PREFIXES = ("lo",)
# The first CPU sample has nothing to compare with; this long a first sample is still quick.
FIRST_CPU_SAMPLE_SECONDS = 0.5


def _mount_order(partition: Any) -> tuple[bool, int, str]:
    return (partition.mountpoint != PRIMARY_MOUNT, len(partition.mountpoint), partition.mountpoint)


def real_partitions(partitions: Iterable[Any]) -> list[Any]:
    """Mounted filesystems worth reporting: no pseudo filesystems, one mount per device."""
    seen: set[str] = set()
    chosen = []
    for partition in sorted(partitions, key=_mount_order):
        if partition.fstype in PSEUDO_FILESYSTEMS or partition.device in seen:
            continue
        seen.add(partition.device)
        chosen.append(partition)
    return chosen


def established_tcp_from_snmp(snmp: Path = Path("/proc/net/snmp")) -> int | None:
    """TCP connections established (or closing) now: the kernel's `Tcp: CurrEstab` counter.

    One small read: psutil.net_connections() instead maps every socket to its process by
    scanning every /proc/<pid>/fd, and even /proc/net/tcp walks the whole socket table; both
    cost milliseconds to tens of milliseconds. None where the file does not exist (not Linux).
    """
    try:
        lines = [line.split() for line in snmp.read_text().splitlines()
                 if line.startswith("Tcp:")]
    except FileNotFoundError:
        return None
    if len(lines) != 2 or "CurrEstab" not in lines[0]:
        return None
    return int(lines[1][lines[0].index("CurrEstab")])


class NodeCollector:
    """Collects snapshots of this machine; call `collect` from one executor thread only."""

    def __init__(self, node_id: str, source: str | None = None) -> None:
        self.node_id = node_id
        self.source = source or f"node-agent@{socket.gethostname()}"
        self._cpu_primed = False
        self._connections_denied_logged = False

    def collect(self, outbox_dropped_total: int | None = None) -> NodeSnapshot:
        """Take one snapshot now (blocking)."""
        cpu = psutil.cpu_percent(
            interval=None if self._cpu_primed else FIRST_CPU_SAMPLE_SECONDS)
        self._cpu_primed = True
        at = now_utc()
        memory = psutil.virtual_memory()
        boot = psutil.boot_time()
        rx, tx, rx_packets, tx_packets = self._network()
        load = self._load()
        return NodeSnapshot(
            event_id=snapshot_event_id(self.node_id, at),
            source=self.source,
            ts=at,
            node_id=self.node_id,
            cpu_percent=cpu,
            memory_percent=memory.percent,
            memory_used_bytes=memory.used,
            memory_total_bytes=memory.total,
            disks=self._disks(),
            network_rx_bytes=rx,
            network_tx_bytes=tx,
            network_rx_packets=rx_packets,
            network_tx_packets=tx_packets,
            uptime_seconds=max(0.0, time.time() - boot),
            boot_time=datetime.fromtimestamp(boot, UTC),
            process_count=len(psutil.pids()),
            active_connections=self._connections(),
            load_avg_1m=load[0] if load else None,
            load_avg_5m=load[1] if load else None,
            load_avg_15m=load[2] if load else None,
            outbox_dropped_total=outbox_dropped_total,
        )

    def _disks(self) -> list[DiskUsage]:
        disks = []
        for partition in real_partitions(psutil.disk_partitions(all=True)):
            try:
                usage = psutil.disk_usage(partition.mountpoint)
            except OSError as exc:  # unmounted meanwhile, or not ours to stat
                log.debug("node.disk_skipped mount=%s error=%r", partition.mountpoint, exc)
                continue
            if usage.total == 0:
                continue
            disks.append(DiskUsage(mount=partition.mountpoint, used_bytes=usage.used,
                                   total_bytes=usage.total, percent=usage.percent))
        return disks

    @staticmethod
    def _network() -> tuple[int, int, int, int]:
        rx = tx = rx_packets = tx_packets = 0
        for name, counters in psutil.net_io_counters(pernic=True).items():
            if name.startswith(LOOPBACK_PREFIXES):
                continue
            rx += counters.bytes_recv
            tx += counters.bytes_sent
            rx_packets += counters.packets_recv
            tx_packets += counters.packets_sent
        return rx, tx, rx_packets, tx_packets

    def _connections(self) -> int | None:
        established = established_tcp_from_snmp()
        if established is not None:
            return established
        try:
            connections = psutil.net_connections(kind="inet")
        except psutil.AccessDenied:
            if not self._connections_denied_logged:
                log.warning("node.connections_unavailable reason=access_denied "
                            "(run as root to report active_connections)")
                self._connections_denied_logged = True
            return None
        return sum(1 for conn in connections if conn.status == psutil.CONN_ESTABLISHED)

    @staticmethod
    def _load() -> tuple[float, float, float] | None:
        try:
            return psutil.getloadavg()
        except (AttributeError, OSError):
            return None
