"""`fleetstream stack up|down|status`: the project's own local stack on loopback, no Docker.

Why it exists: the tests and `make demo` need a real Kafka broker, a real PostgreSQL server and a
real line-protocol TSDB. This package starts them as processes owned by the project, health-checks
them, writes `.stack/env` for `source`, and stops exactly what it started.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from fleetstream.stack.process import StackError
from fleetstream.stack.services import Kafka, Ports, Postgres, Service, VictoriaMetrics

__all__ = ["Stack", "StackError"]

WEB_URL = "http://127.0.0.1:6066"


@dataclass
class Stack:
    """The local stack rooted at a state directory (default `.stack/`)."""

    state_dir: Path = Path(".stack")
    ports: Ports = field(default_factory=Ports)

    def __post_init__(self) -> None:
        self.state_dir = self.state_dir.resolve()
        self.kafka = Kafka(self.state_dir, self.ports)
        self.services: list[Service] = [
            self.kafka,
            Postgres(self.state_dir, self.ports),
            VictoriaMetrics(self.state_dir, self.ports),
        ]

    @property
    def env_file(self) -> Path:
        return self.state_dir / "env"

    def up(self) -> list[str]:
        """Start every service not yet running (idempotent); returns one report line each."""
        lines = []
        for service in self.services:
            began = time.monotonic()
            started = service.start()
            took = f"started in {time.monotonic() - began:.1f}s" if started else "already up"
            lines.append(f"{service.describe()}  {took}")
        self.write_env()
        return lines

    def down(self) -> list[str]:
        """Stop every service this stack started, in reverse order."""
        lines: list[str] = []
        failures: list[str] = []
        for service in reversed(self.services):
            try:
                stopped = service.stop()
            except StackError as exc:  # keep stopping the others, then report
                failures.append(str(exc))
                continue
            lines.append(f"{service.name:<16} {'stopped' if stopped else 'was not running'}")
        self.env_file.unlink(missing_ok=True)
        if failures:
            raise StackError("; ".join(failures))
        return lines

    def status(self) -> tuple[bool, list[str]]:
        """(all healthy, one line per service)."""
        return (all(s.healthy() for s in self.services),
                [s.describe() for s in self.services])

    def env(self) -> dict[str, str]:
        merged: dict[str, str] = {}
        for service in self.services:
            merged.update(service.env())
        merged["FLEETSTREAM_WEB_URL"] = WEB_URL
        return merged

    def write_env(self) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        body = "".join(f"export {key}={value}\n" for key, value in self.env().items())
        self.env_file.write_text(body)
