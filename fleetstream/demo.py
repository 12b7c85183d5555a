"""`make demo`: the whole system on this machine, in the foreground, until Ctrl-C.

Why it exists: one command shows fleetstream working end to end: the local stack, a stream worker,
a node agent, a VM agent on libvirt's built-in test driver, two heartbeat emitters and a simulated
backup job, then prints where to look. The worker and the agents are registered as targets of the
stack's Prometheus (jobs `fleetstream-worker` and `fleetstream-agent`), so the alert rules and the
dashboard see them, and the worker forwards its alerts to the stack's Alertmanager. On Ctrl-C it
stops every process it started, unregisters the targets, and stops the stack too if this run
started it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from common.settings import NODE_AGENT, VM_AGENT, WORKER, Settings, read_dotenv
from fleetstream.stack import Stack

FLEETSTREAM = str(Path(sys.executable).parent / "fleetstream")


def _wait_http(url: str, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return True
        except OSError:
            time.sleep(0.5)
    return False


def _producers(env: dict[str, str]) -> list[tuple[str, list[str], dict[str, str]]]:
    """(name, argv, extra env) of every producer the demo runs."""
    return [
        ("node-agent", ["node-agent", "--interval", "5"], {}),
        ("vm-agent", ["vm-agent"], {"LIBVIRT_URI": "test:///default", "POLL_INTERVAL": "2"}),
        ("heartbeat-1", ["heartbeat", "--worker-id", "demo-worker-1", "--interval", "5"], {}),
        ("heartbeat-2", ["heartbeat", "--worker-id", "demo-worker-2", "--interval", "5"], {}),
        ("backup-jobs", [sys.executable, "-m", "producers.backup.simulate", "--job-id",
                         "demo-backup", "--disks", "2", "--total-bytes", str(40 * 2**30)], {}),
    ]


WORKER_JOB = "fleetstream-worker"
AGENT_JOB = "fleetstream-agent"
_ANY_ADDRESS = frozenset({"0.0.0.0", "::", ""})


def _reachable(host: str, port: int) -> str:
    # A server bound to every address is scraped on loopback.
    return f"{'127.0.0.1' if host in _ANY_ADDRESS else host}:{port}"


def scrape_targets(env: dict[str, str]) -> list[tuple[str, str, str]]:
    """(job, name, host:port) of every /metrics endpoint the demo starts, read from `env` as each
    process reads its settings (the VM agent's with the demo's extra environment)."""
    vm_extra = next(extra for name, _, extra in _producers(env) if name == "vm-agent")
    worker = Settings.load(env, dotenv=None, process=WORKER)
    node = Settings.load(env, dotenv=None, process=NODE_AGENT)
    vm = Settings.load({**env, **vm_extra}, dotenv=None, process=VM_AGENT)
    targets = [(WORKER_JOB, "demo-worker", _reachable(worker.web_host, worker.web_port)),
               (AGENT_JOB, "demo-vm-agent", _reachable(vm.vm_agent_host, vm.vm_agent_port))]
    if node.node_ws_port:
        targets.insert(1, (AGENT_JOB, "demo-node-agent",
                           _reachable(node.node_ws_bind, node.node_ws_port)))
    return targets


def main() -> int:
    stack = Stack(Path(".stack"))
    started_stack = not stack.status()[0]
    for line in stack.up():
        print(line)
    env = {**os.environ, **read_dotenv(stack.env_file)}
    logs = stack.state_dir / "demo"
    logs.mkdir(exist_ok=True)
    children: list[subprocess.Popen[bytes]] = []

    def spawn(name: str, argv: list[str], extra: dict[str, str]) -> None:
        command = argv if argv[0] == sys.executable else [FLEETSTREAM, *argv]
        with (logs / f"{name}.log").open("ab") as log:
            children.append(subprocess.Popen(command, env={**env, **extra}, stdout=log,
                                             stderr=subprocess.STDOUT))

    stop = False

    def request_stop(signum: int, frame: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    targets = scrape_targets(env)
    try:
        for job, name, host_port in targets:
            stack.register_target(job, name, host_port)
        # Short thresholds, so the simulator's silent jobs turn stale and stalled within minutes.
        spawn("worker", ["worker"], {"FLEETSTREAM_STALE_AFTER_SECONDS": "15",
                                     "FLEETSTREAM_STALLED_AFTER_SECONDS": "45",
                                     "FLEETSTREAM_ALERTMANAGER_URL": env["ALERTMANAGER_URL"]})
        web = env["FLEETSTREAM_WEB_URL"]
        if not _wait_http(f"{web}/health", 90):
            print(f"the worker did not come up; see {logs / 'worker.log'}", file=sys.stderr)
            return 1
        for name, argv, extra in _producers(env):
            spawn(name, argv, extra)
        print(f"""
fleetstream demo is running (logs in {logs}/). Press Ctrl-C to stop everything.

  dashboard        {web}/
  health           {web}/health
  workers          {web}/workers   {web}/telemetry
  backup jobs      {web}/jobs
  nodes, VMs       {web}/nodes   {web}/vms
  live stream      {web.replace('http', 'ws')}/ws/telemetry
  TSDB (InfluxDB)  {env['INFLUX_URL']}/vmui/
  PostgreSQL       {env['DATABASE_URL']}
  Kafka            {env['KAFKA_BOOTSTRAP_SERVERS']}
  Prometheus       {env['PROMETHEUS_URL']}/targets   (scrapes {len(targets)} targets)
  Alertmanager     {env['ALERTMANAGER_URL']}/#/alerts
""", flush=True)
        while not stop:
            time.sleep(0.5)
            if children[0].poll() is not None:
                print(f"the worker exited; see {logs / 'worker.log'}", file=sys.stderr)
                return 1
        return 0
    finally:
        for child in reversed(children):
            child.send_signal(signal.SIGTERM)
        for child in reversed(children):
            try:
                child.wait(30)
            except subprocess.TimeoutExpired:
                child.kill()
        for job, name, _ in targets:
            stack.unregister_target(job, name)
        if started_stack:
            for line in stack.down():
                print(line)


if __name__ == "__main__":
    sys.exit(main())
