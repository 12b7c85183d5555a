"""The psutil collector on this machine: real figures, pseudo filesystems, denied connections."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import NamedTuple

import psutil
import pytest

from producers.node import collector as collector_module
from producers.node.collector import NodeCollector, established_tcp_from_snmp, real_partitions


class Partition(NamedTuple):
    """The fields of psutil's disk_partitions() entries the collector reads."""

    device: str
    mountpoint: str
    fstype: str


def part(device: str, mount: str, fstype: str) -> Partition:
    return Partition(device, mount, fstype)


def test_snapshot_of_this_machine_has_real_figures() -> None:
    collector = NodeCollector("this-host")
    first, second = collector.collect(outbox_dropped_total=3), collector.collect()
    assert second.ts > first.ts
    assert first.node_id == "this-host"
    assert first.outbox_dropped_total == 3
    assert first.memory_total_bytes == psutil.virtual_memory().total
    assert first.disks, "at least one real filesystem is mounted"
    assert first.process_count and first.process_count > 0
    assert first.uptime_seconds and first.uptime_seconds > 0
    assert first.network_rx_bytes is not None
    assert second.network_rx_bytes is not None
    assert second.network_rx_bytes >= first.network_rx_bytes
    # Seed 001's WebSocket `packets_recv` / `packets_sent`: this machine's real packet counters.
    assert first.network_rx_packets is not None and first.network_tx_packets is not None
    assert second.network_rx_packets is not None
    assert second.network_rx_packets >= first.network_rx_packets
    assert first.event_id != second.event_id


def test_pseudo_filesystems_and_bind_mounts_are_skipped_root_first() -> None:
    chosen = real_partitions([
        part("proc", "/proc", "proc"), part("tmpfs", "/run", "tmpfs"),
        part("/dev/sda2", "/home", "ext4"), part("/dev/sda1", "/etc/hosts", "ext4"),
        part("/dev/sda1", "/", "ext4"), part("/dev/loop0", "/snap/core/1", "squashfs"),
        part("overlay", "/var/lib/docker/x", "overlay"),
    ])
    assert [p.mountpoint for p in chosen] == ["/", "/home", "/var/lib/docker/x"]


def test_denied_connection_listing_reports_none_and_logs_once(
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    def denied(kind: str = "inet") -> list[object]:
        raise psutil.AccessDenied(pid=None, msg="not root")

    monkeypatch.setattr(collector_module, "established_tcp_from_snmp", lambda: None)  # not Linux
    monkeypatch.setattr(psutil, "net_connections", denied)
    collector = NodeCollector("this-host")
    with caplog.at_level(logging.WARNING):
        snapshots = [collector.collect(), collector.collect()]
    assert [s.active_connections for s in snapshots] == [None, None]
    assert snapshots[0].cpu_percent >= 0  # the rest of the snapshot is still taken
    assert sum("connections_unavailable" in r.message for r in caplog.records) == 1


def test_active_connections_come_from_the_kernels_tcp_counter(tmp_path: Path) -> None:
    snmp = tmp_path / "snmp"
    snmp.write_text(
        "Ip: Forwarding DefaultTTL\nIp: 1 64\n"
        "Tcp: RtoAlgorithm RtoMin RtoMax MaxConn ActiveOpens CurrEstab InSegs\n"
        "Tcp: 1 200 120000 -1 18216 42 218755\n")
    assert established_tcp_from_snmp(snmp) == 42
    assert established_tcp_from_snmp(tmp_path / "absent") is None
    assert NodeCollector("this-host").collect().active_connections is not None  # on Linux
