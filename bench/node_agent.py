"""What the node agent costs a machine, side by side with Prometheus' node exporter.

Why it exists: the node agent runs on every machine of the fleet, so its CPU time per snapshot
and its memory must stay small; Debian's `prometheus-node-exporter` (apt-get install
prometheus-node-exporter) is the familiar baseline, measured in the same run on the same machine.

Both run as real processes, measured from outside through /proc (user+system CPU time, RSS):
- the agent: `fleetstream node-agent --interval I` against the local stack's Kafka, on a
  throw-away topic (collection + encoding + durable outbox + delivery), for `--seconds`
  after a warm-up (its fixed interval grid gives the snapshot count);
- the exporter: on a loopback port, scraped `--scrapes` times at the same interval; the cost of
  a scrape is its CPU delta over the scrapes.
The exporter reports far more series than a snapshot has fields; both figures are printed.

    python bench/node_agent.py [--interval 0.2] [--seconds 20] [--scrapes 100]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path

from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from common.settings import read_dotenv

REPO = Path(__file__).resolve().parents[1]
FLEETSTREAM = str(Path(sys.executable).parent / "fleetstream")
TICKS = os.sysconf("SC_CLK_TCK")
SNAPSHOT_FIELDS = 19  # the seed's telemetry_history columns a snapshot fills


@dataclass(frozen=True)
class Usage:
    """CPU seconds (user + system) and resident memory of a process at one moment."""

    cpu_seconds: float
    rss_bytes: int


def usage(pid: int) -> Usage:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime (fields 14, 15)
    rss = 0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            rss = int(line.split()[1]) * 1024
    return Usage(cpu, rss)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def bootstrap_servers() -> str:
    env_file = REPO / ".stack" / "env"
    stack = read_dotenv(env_file) if env_file.exists() else {}
    return os.environ.get("KAFKA_BOOTSTRAP_SERVERS") or stack.get(
        "KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")


async def create_topic(bootstrap: str, name: str) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, num_partitions=1, replication_factor=1)])
    finally:
        await admin.close()


async def delete_topic(bootstrap: str, name: str) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.delete_topics([name])
    finally:
        await admin.close()


@dataclass(frozen=True)
class Result:
    """One measured process: work items done, CPU spent on them, memory at the end."""

    name: str
    items: int
    cpu_seconds: float
    rss_bytes: int
    fields: int

    @property
    def cpu_ms_per_item(self) -> float:
        return 1000 * self.cpu_seconds / self.items


def run_agent(bootstrap: str, interval: float, seconds: float) -> Result:
    prefix = f"bench{uuid.uuid4().hex[:8]}."
    topic = f"{prefix}node"
    asyncio.run(create_topic(bootstrap, topic))
    data_dir = Path(tempfile.mkdtemp(prefix="fleetstream-bench-node-"))
    log = data_dir / "agent.log"
    env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
           "FLEETSTREAM_TOPIC_PREFIX": prefix, "FLEETSTREAM_DATA_DIR": str(data_dir),
           "FLEETSTREAM_NODE_ID": "bench-node", "FLEETSTREAM_LOG_LEVEL": "info"}
    try:
        with log.open("wb") as out:
            agent = subprocess.Popen([FLEETSTREAM, "node-agent", "--interval", str(interval)],
                                     env=env, cwd=REPO, stdout=out, stderr=subprocess.STDOUT)
        # Start-up (imports, first CPU sample, Kafka connection) is not a per-snapshot cost.
        time.sleep(3.0)
        start, warm_log = usage(agent.pid), log.stat().st_size
        time.sleep(seconds)
        end = usage(agent.pid)
        agent.send_signal(signal.SIGTERM)
        agent.wait(30)
        if "node.cycles_skipped" in log.read_text()[warm_log:]:
            raise SystemExit(f"the agent skipped cycles at --interval {interval}; use a longer one")
        # The agent runs on a fixed grid, so the window holds seconds / interval snapshots.
        return Result("fleetstream node-agent", round(seconds / interval),
                      end.cpu_seconds - start.cpu_seconds, end.rss_bytes, SNAPSHOT_FIELDS)
    finally:
        asyncio.run(delete_topic(bootstrap, topic))
        shutil.rmtree(data_dir, ignore_errors=True)


def run_exporter(interval: float, scrapes: int) -> Result:
    binary = shutil.which("prometheus-node-exporter")
    if binary is None:
        raise SystemExit("prometheus-node-exporter is not installed "
                         "(apt-get install prometheus-node-exporter)")
    port = free_port()
    exporter = subprocess.Popen([binary, f"--web.listen-address=127.0.0.1:{port}"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/metrics"
    try:
        series = _scrape(url, wait=True)  # warm-up scrape, also counts the series
        start = usage(exporter.pid)
        for _ in range(scrapes):
            began = time.monotonic()
            _scrape(url)
            time.sleep(max(0.0, interval - (time.monotonic() - began)))
        end = usage(exporter.pid)
        return Result("prometheus-node-exporter", scrapes, end.cpu_seconds - start.cpu_seconds,
                      end.rss_bytes, series)
    finally:
        exporter.terminate()
        exporter.wait(10)


def _scrape(url: str, wait: bool = False) -> int:
    deadline = time.monotonic() + 10
    while True:
        try:
            with urllib.request.urlopen(url, timeout=10) as response:
                body = response.read().decode()
            return sum(1 for line in body.splitlines() if line and not line.startswith("#"))
        except OSError:
            if not wait or time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--interval", type=float, default=0.2,
                        help="seconds between snapshots / scrapes (default 0.2)")
    parser.add_argument("--seconds", type=float, default=20.0,
                        help="how long the agent is measured (default 20)")
    parser.add_argument("--scrapes", type=int, default=100,
                        help="scrapes of the exporter (default 100)")
    args = parser.parse_args()

    agent = run_agent(bootstrap_servers(), args.interval, args.seconds)
    exporter = run_exporter(args.interval, args.scrapes)
    print(f"{'process':<26} {'items':>6} {'CPU ms/item':>12} {'RSS MiB':>8} {'values':>7}")
    for result in (agent, exporter):
        print(f"{result.name:<26} {result.items:>6} {result.cpu_ms_per_item:>12.2f} "
              f"{result.rss_bytes / 2**20:>8.1f} {result.fields:>7}")
    per_value = ((agent.cpu_ms_per_item / agent.fields)
                 / (exporter.cpu_ms_per_item / exporter.fields))
    cpu_ratio = agent.cpu_ms_per_item / exporter.cpu_ms_per_item
    print(f"agent/exporter: CPU per collection x{cpu_ratio:.2f}"
          f", RSS x{agent.rss_bytes / exporter.rss_bytes:.2f}, CPU per value x{per_value:.1f}")


if __name__ == "__main__":
    main()
