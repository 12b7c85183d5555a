"""Benchmark: cold and warm `fleetstream stack up`, broker RSS, `stack down` time.

Cold = empty Maven repository and jar cache (a temporary HOME), so the broker jars are resolved
from Maven Central; warm = the second `up` of the same state after a `down`. Runs on its own ports
and state directory, beside any running stack.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

FLEETSTREAM = str(Path(sys.executable).parent / "fleetstream")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def main() -> None:
    home = Path(tempfile.mkdtemp(prefix="fleetstream-bench-home-"))
    state = home / "stack"
    ports = ", ".join(str(free_port()) for _ in range(4))
    script = f"""
import sys, time
from pathlib import Path
from fleetstream.stack import Stack
from fleetstream.stack.services import Ports
stack = Stack(Path({str(state)!r}), Ports({ports}))
action = sys.argv[1]
began = time.monotonic()
if action == "up":
    stack.up()
    print(time.monotonic() - began, stack.kafka.process.pid())
else:
    stack.down()
    print(time.monotonic() - began, 0)
"""
    env = {**os.environ, "HOME": str(home), "XDG_CACHE_HOME": str(home / ".cache"),
           "MAVEN_OPTS": f"-Dmaven.repo.local={home / '.m2' / 'repository'}"}

    def run(action: str) -> tuple[float, int]:
        out = subprocess.run([sys.executable, "-c", script, action], env=env, check=True,
                             capture_output=True, text=True).stdout.split()
        return float(out[0]), int(out[1])

    cold, pid = run("up")
    time.sleep(5)
    broker_rss = rss_mib(pid)
    down_cold, _ = run("down")
    warm, _ = run("up")
    down_warm, _ = run("down")
    print(f"stack up cold (jars from Maven Central, initdb, storage format): {cold:6.1f} s")
    print(f"stack up warm (cached jars, existing data):                      {warm:6.1f} s")
    print(f"cold / warm ratio:                                              {cold / warm:6.1f}x")
    print(f"broker RSS 5 s after start:                                     {broker_rss:6.0f} MiB")
    print(f"stack down: {down_cold:.1f} s and {down_warm:.1f} s")


if __name__ == "__main__":
    main()
