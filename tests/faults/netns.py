"""Two network namespaces, a worker's and a wire's, whose link the test cuts and heals.

Why it exists: a partition is not a stopped process. A worker that runs under `ip netns exec`
in the worker namespace made here reaches the host's servers only across a wire (through the
relays of `tests.faults.forwarder`), so dropping every frame on the wire cuts it off as a network
partition does: its connections hang, nothing is reset, it keeps running.

The wire is a namespace of its own holding a bridge between two veth pairs, one to the host and
one to the worker namespace: host 10.213.X.1/30 and worker 10.213.X.2/30 share one link, as if
plugged into the same switch. The cut is an nftables `netdev` table *in the wire namespace*
dropping every frame that enters either bridge port; the heal deletes it. The drop must be on a
hop between the two ends: dropped at a sender's own device (its egress), the kernel tells that
sender's TCP, which retransmits without backoff and gives up with ETIMEDOUT within seconds (seen
at 8 s), a reset rather than a partition.

Everything made here is the test's own: its two namespaces, the veth pairs and the addresses of
a /30 of 10.213.0.0/16 no host interface or route uses. The host's other interfaces, routes and
firewall are never touched. `close()` ends the relays and every process left in the namespaces
(all started by the test) and deletes the veth pairs and the namespaces, also after a failure.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterable
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path

from tests.integration.helpers import REPO

CUT_TABLE = "fs_partition"


class NetnsUnavailable(RuntimeError):
    """`ip netns` or veth pairs are not permitted here (not root, no CAP_NET_ADMIN, no iproute2)."""


def run(*args: str, netns: str | None = None) -> str:
    """Run a command (inside `netns` if given); its stdout, or CalledProcessError."""
    command = ["ip", "netns", "exec", netns, *args] if netns else list(args)
    done = subprocess.run(command, capture_output=True, text=True, timeout=30, check=False)
    if done.returncode != 0:
        raise subprocess.CalledProcessError(done.returncode, command, done.stdout, done.stderr)
    return done.stdout


def unused_subnet() -> int:
    """X of a 10.213.X.0/30 no host address or route mentions (other tests may run alongside)."""
    used = run("ip", "-4", "-o", "addr", "show") + run("ip", "-4", "route", "show", "table", "all")
    free = [x for x in range(1, 255) if f"10.213.{x}." not in used]
    if not free:
        raise NetnsUnavailable("no free /30 left in 10.213.0.0/16")
    return random.choice(free)


@dataclass
class Partition:
    """The test's worker and wire namespaces and relays; `cut()` and `heal()` the wire."""

    name: str  # the worker's namespace
    wire: str  # the wire's namespace
    ifaces: dict[str, str]  # role -> interface name (at most 15 characters)
    host_ip: str
    netns_ip: str
    relays: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @classmethod
    def create(cls) -> Partition:
        tag = uuid.uuid4().hex[:6]
        x = unused_subnet()
        made = cls(f"fs-part-{tag}", f"fs-wire-{tag}",
                   {role: f"fsp{tag}{role}" for role in ("h", "a", "b", "n", "w")},
                   f"10.213.{x}.1", f"10.213.{x}.2")
        try:
            run("ip", "netns", "add", made.name)
        except (subprocess.CalledProcessError, FileNotFoundError) as exc:
            raise NetnsUnavailable(f"`ip netns add` failed: {getattr(exc, 'stderr', exc)}")\
                from exc
        try:
            made._wire_up()
        except (subprocess.CalledProcessError, FileNotFoundError) as exc:
            made.close()
            raise NetnsUnavailable(f"veth setup failed: {getattr(exc, 'stderr', exc)}") from exc
        return made

    def _wire_up(self) -> None:
        i, wire = self.ifaces, self.wire
        run("ip", "netns", "add", wire)
        run("ip", "link", "add", i["h"], "type", "veth", "peer", "name", i["a"])
        run("ip", "link", "set", i["a"], "netns", wire)
        run("ip", "link", "add", i["b"], "type", "veth", "peer", "name", i["n"], netns=wire)
        run("ip", "link", "set", i["n"], "netns", self.name, netns=wire)
        run("ip", "link", "add", i["w"], "type", "bridge", netns=wire)
        for port in ("a", "b"):
            run("ip", "link", "set", i[port], "master", i["w"], netns=wire)
        for dev in ("a", "b", "w"):
            run("ip", "link", "set", i[dev], "up", netns=wire)
        run("ip", "addr", "add", f"{self.host_ip}/30", "dev", i["h"])
        run("ip", "link", "set", i["h"], "up")
        run("ip", "addr", "add", f"{self.netns_ip}/30", "dev", i["n"], netns=self.name)
        run("ip", "link", "set", i["n"], "up", netns=self.name)
        run("ip", "link", "set", "lo", "up", netns=self.name)

    @property
    def launcher(self) -> list[str]:
        """The argv prefix that runs a command inside the namespace."""
        return ["ip", "netns", "exec", self.name]

    def forward(self, host_ports: Iterable[int], netns_ports: Iterable[int],
                inside_socket: Path, inside_port: int) -> None:
        """Relay the namespace's 127.0.0.1:P to the host's 127.0.0.1:P for every `host_ports`
        P, and the host's 127.0.0.1:P to the namespace's for every `netns_ports` P, all across
        the wire; `inside_socket` reaches the namespace's 127.0.0.1:`inside_port` without it."""
        host_ports, netns_ports = list(host_ports), list(netns_ports)
        inside = [*(f"127.0.0.1:{p}={self.host_ip}:{p}" for p in host_ports),
                  *(f"{self.netns_ip}:{p}=127.0.0.1:{p}" for p in netns_ports),
                  f"unix:{inside_socket}=127.0.0.1:{inside_port}"]
        outside = [*(f"{self.host_ip}:{p}=127.0.0.1:{p}" for p in host_ports),
                   *(f"127.0.0.1:{p}={self.netns_ip}:{p}" for p in netns_ports)]
        self._relay(self.launcher, inside)
        self._relay([], outside)

    def _relay(self, launcher: list[str], routes: list[str]) -> None:
        relay = subprocess.Popen([*launcher, sys.executable, "-m", "tests.faults.forwarder",
                                  *routes], cwd=REPO, stdout=subprocess.PIPE)
        self.relays.append(relay)
        assert relay.stdout is not None
        line = relay.stdout.readline()  # bound listeners print "ready"; a failed one exits
        if line.strip() != b"ready":
            raise NetnsUnavailable(f"relay {routes} did not start (exit {relay.poll()})")

    def cut(self) -> None:
        """Drop every frame entering the wire from either end."""
        chains = "".join(
            f"  chain in_{port} {{ type filter hook ingress device \"{self.ifaces[port]}\" "
            "priority 0; policy drop; }\n" for port in ("a", "b"))
        subprocess.run(["ip", "netns", "exec", self.wire, "nft", "-f", "-"],
                       input=f"table netdev {CUT_TABLE} {{\n{chains}}}\n", text=True,
                       check=True, capture_output=True, timeout=30)

    def heal(self) -> None:
        run("nft", "delete", "table", "netdev", CUT_TABLE, netns=self.wire)

    def close(self) -> None:
        """End the relays and whatever else runs in the namespaces, delete veths and namespaces."""
        for relay in self.relays:
            relay.send_signal(signal.SIGTERM)
            try:
                relay.wait(10)
            except subprocess.TimeoutExpired:
                relay.kill()
                relay.wait(10)
        for netns in (self.name, self.wire):
            try:
                inside = run("ip", "netns", "pids", netns).split()
            except subprocess.CalledProcessError:
                inside = []
            for pid in inside:  # only the test's own processes can be in its namespaces
                with suppress(ProcessLookupError):
                    os.kill(int(pid), signal.SIGKILL)
        subprocess.run(["ip", "link", "del", self.ifaces["h"]], check=False, capture_output=True)
        for netns in (self.name, self.wire):  # deleting them deletes their devices
            subprocess.run(["ip", "netns", "del", netns], check=False, capture_output=True)
