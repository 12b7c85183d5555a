"""`fleetstream stack up|down|status`: the project's own local stack on loopback, no Docker.

Why it exists: the tests and `make demo` need a real Kafka broker, a real PostgreSQL server, a real
line-protocol TSDB, InfluxDB 1.x (strict line-protocol checks), Prometheus and Alertmanager. This
package starts them as processes owned by the project, health-checks them, writes `.stack/env` for
`source` (and, with `secure=True`, `.stack/kafka-secure.env` for the SASL_SSL listener), and stops
exactly what it started.
"""

from __future__ import annotations

import shlex
import time
from dataclasses import dataclass, field
from pathlib import Path

from fleetstream.stack.influxdb1 import InfluxDB1
from fleetstream.stack.monitoring import (
    REPO_RULES_DIR,
    Alertmanager,
    Prometheus,
    register_target,
    unregister_target,
)
from fleetstream.stack.process import StackError
from fleetstream.stack.services import Kafka, Ports, Postgres, Service, VictoriaMetrics

__all__ = ["Ports", "Stack", "StackError", "register_target", "unregister_target"]

WEB_URL = "http://127.0.0.1:6066"


@dataclass
class Stack:
    """The local stack rooted at a state directory (default `.stack/`)."""

    state_dir: Path = Path(".stack")
    ports: Ports = field(default_factory=Ports)
    secure: bool = False
    """Also open Kafka's SASL_SSL listener (see `services.Kafka`)."""
    rules_dir: Path = REPO_RULES_DIR
    """Where Prometheus reads `*.rules.yml` from."""
    alert_webhook: str | None = None
    """Where Alertmanager sends notifications; `alertmanager.set_webhook()` changes it live."""

    def __post_init__(self) -> None:
        self.state_dir = self.state_dir.resolve()
        self.kafka = Kafka(self.state_dir, self.ports, secure=self.secure)
        self.prometheus = Prometheus(self.state_dir, self.ports, self.rules_dir)
        self.alertmanager = Alertmanager(self.state_dir, self.ports, self.alert_webhook)
        self.influxdb1 = InfluxDB1(self.state_dir, self.ports)
        self.services: list[Service] = [
            self.kafka,
            Postgres(self.state_dir, self.ports),
            VictoriaMetrics(self.state_dir, self.ports),
            self.influxdb1,
            self.alertmanager,
            self.prometheus,
        ]

    @property
    def env_file(self) -> Path:
        return self.state_dir / "env"

    @property
    def secure_env_file(self) -> Path:
        """Client settings for the SASL_SSL listener: `source .stack/kafka-secure.env`."""
        return self.state_dir / "kafka-secure.env"

    def register_target(self, job: str, name: str, host_port: str) -> Path:
        """Have this stack's Prometheus scrape `host_port` (see `monitoring.register_target`)."""
        return register_target(job, name, host_port, self.state_dir)

    def unregister_target(self, job: str, name: str) -> bool:
        return unregister_target(job, name, self.state_dir)

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
        self.secure_env_file.unlink(missing_ok=True)
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
        self.env_file.write_text(_env_body(self.env()))
        if self.secure:
            self.secure_env_file.write_text(_env_body(self.kafka.secure_env()))
            self.secure_env_file.chmod(0o600)


def _env_body(env: dict[str, str]) -> str:
    return "".join(f"export {key}={shlex.quote(value)}\n" for key, value in env.items())
