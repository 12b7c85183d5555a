"""Start, find and stop the local stack's background processes by pid file.

Why it exists: `fleetstream stack down` must stop exactly the processes `stack up` started and
nothing else, so every process is spawned here, its pid written next to a marker of its command
line, and a pid is only signalled while its command line still carries that marker (a recycled pid
is never killed).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path


class StackError(RuntimeError):
    """A stack service could not be prepared, started or stopped; the message says which and why."""


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    """True when something accepts TCP connections on host:port."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def http_ok(url: str, method: str = "GET", timeout: float = 2.0) -> bool:
    """True when `url` answers 2xx (a health check: any failure is just "not yet")."""
    request = urllib.request.Request(url, method=method)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return 200 <= int(response.status) < 300
    except (urllib.error.URLError, OSError):
        return False


def log_tail(path: Path, lines: int = 40) -> str:
    if not path.exists():
        return f"(no log at {path})"
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def wait_until(check: Callable[[], bool], timeout: float, interval: float = 0.25) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(interval)
    return check()


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def _exited(pid: int) -> bool:
    """True when process `pid` is gone or a zombie: nothing of it runs any more."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] == "Z"


@dataclass(frozen=True)
class ManagedProcess:
    """One background process of the stack, known by its pid file and a command-line marker."""

    name: str
    state_dir: Path
    marker: str

    @property
    def pidfile(self) -> Path:
        return self.state_dir / f"{self.name}.pid"

    @property
    def logfile(self) -> Path:
        return self.state_dir / f"{self.name}.log"

    def pid(self) -> int | None:
        """The pid of the running process this stack started, or None."""
        try:
            pid = int(self.pidfile.read_text().strip())
        except (OSError, ValueError):
            return None
        if self.marker in _cmdline(pid):
            return pid
        return None

    def spawn(
        self,
        argv: Sequence[str],
        env: Mapping[str, str] | None = None,
        user: str | None = None,
        cwd: Path | None = None,
    ) -> int:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        # A fresh log per start: health checks read it, and must not see a previous run's lines.
        with self.logfile.open("wb") as log:
            proc = subprocess.Popen(
                list(argv),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=dict(env) if env is not None else None,
                cwd=cwd,
                user=user,
                start_new_session=True,
            )
        self.pidfile.write_text(f"{proc.pid}\n")
        return proc.pid

    def exited_early(self) -> bool:
        """True when the spawned process is gone (crashed during start-up).

        Judged by the pid alone, not the marker: a launcher that re-executes itself (java does)
        briefly shows an empty command line.
        """
        try:
            pid = int(self.pidfile.read_text().strip())
        except (OSError, ValueError):
            return True
        return _exited(pid)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30.0) -> bool:
        """Stop the process if it runs; True if one was stopped. Escalates to SIGKILL."""
        pid = self.pid()
        if pid is None:
            self.pidfile.unlink(missing_ok=True)
            return False
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)
        if not wait_until(lambda: self.pid() is None, timeout):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            wait_until(lambda: self.pid() is None, 10)
        # The marker can leave the command line before the process has ended: in a suite run two
        # tests at a time, `stack down` returned with the broker's JVM still running (state R)
        # after its ports had closed.
        wait_until(lambda: _exited(pid), 10)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
        self.pidfile.unlink(missing_ok=True)
        return True
