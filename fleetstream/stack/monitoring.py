"""Prometheus and Alertmanager in the local stack, and the scrape targets Prometheus discovers.

Why it exists: fleetstream's alert rules (`deploy/prometheus/*.rules.yml`) must be tested against a
real Prometheus that scrapes real workers and a real Alertmanager that delivers real notifications.
Both are Debian's packages, run on loopback by the stack like its other services.

Prometheus finds its targets through file-based service discovery: `register_target()` writes one
JSON file per target into `<state>/prometheus/targets/`, which Prometheus re-reads within about a
second, with no reload. Rule files are read from a directory given to the stack (the repository's
`deploy/prometheus/` by default); `Prometheus.reload()` re-reads them after a change. Alertmanager
sends every alert to one webhook receiver; `Alertmanager.set_webhook()` points it elsewhere.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

from fleetstream.stack.process import StackError, http_ok
from fleetstream.stack.services import HOST, Ports, Service

REPO_RULES_DIR = Path(__file__).resolve().parents[2] / "deploy" / "prometheus"
"""The repository's alert rules: `deploy/prometheus/*.rules.yml`."""

SCRAPE_INTERVAL = "2s"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


def _write_atomically(path: Path, text: str) -> None:
    # A reader (Prometheus' file watcher) must never see half a file; the temporary name does not
    # match the `*.json` pattern it watches.
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def targets_dir(state_dir: Path) -> Path:
    """Where Prometheus reads its file-discovered targets, for the stack in `state_dir`."""
    return state_dir.resolve() / "prometheus" / "targets"


def _target_file(state_dir: Path, job: str, name: str) -> Path:
    for what, value in (("job", job), ("name", name)):
        if not _NAME.fullmatch(value):
            raise ValueError(f"target {what} {value!r} must be letters, digits, '.', '_' or '-'")
    return targets_dir(state_dir) / f"{job}--{name}.json"


def register_target(job: str, name: str, host_port: str,
                    state_dir: Path = Path(".stack")) -> Path:
    """Have Prometheus scrape `http://host_port/metrics` as job `job`, instance label `name`.

    Returns the target file; Prometheus notices it within its refresh interval (1s).
    """
    path = _target_file(state_dir, job, name)
    path.parent.mkdir(parents=True, exist_ok=True)
    group = [{"targets": [host_port], "labels": {"job": job, "name": name}}]
    _write_atomically(path, json.dumps(group, indent=2) + "\n")
    return path


def unregister_target(job: str, name: str, state_dir: Path = Path(".stack")) -> bool:
    """Stop scraping a registered target; False when it was not registered."""
    path = _target_file(state_dir, job, name)
    if not path.exists():
        return False
    path.unlink()
    return True


class Prometheus(Service):
    """Debian's `prometheus`: scrapes file-discovered targets every 2s, evaluates the rules."""

    name = "prometheus"

    def __init__(self, state_dir: Path, ports: Ports, rules_dir: Path = REPO_RULES_DIR) -> None:
        super().__init__(state_dir, ports)
        self.rules_dir = rules_dir.resolve()

    @property
    def home(self) -> Path:
        return self.state_dir / "prometheus"

    @property
    def marker(self) -> str:
        return str(self.home / "prometheus.yml")

    @property
    def port(self) -> int:
        return self.ports.prometheus

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def config(self) -> str:
        """prometheus.yml. JSON is YAML, so it is written as JSON: no YAML library needed."""
        return json.dumps({
            "global": {"scrape_interval": SCRAPE_INTERVAL, "evaluation_interval": SCRAPE_INTERVAL,
                       "scrape_timeout": SCRAPE_INTERVAL},
            "rule_files": [str(self.rules_dir / "*.rules.yml")],
            "alerting": {"alertmanagers": [
                {"static_configs": [{"targets": [f"{HOST}:{self.ports.alertmanager}"]}]}]},
            "scrape_configs": [{
                # Each target file sets its own `job` label; this name is only the fallback.
                "job_name": "fleetstream",
                "file_sd_configs": [{"files": [str(targets_dir(self.state_dir) / "*.json")],
                                     "refresh_interval": "1s"}],
            }],
        }, indent=2) + "\n"

    def prepare(self) -> None:
        if shutil.which("prometheus") is None:
            raise StackError("prometheus is not installed (apt-get install prometheus)")
        targets_dir(self.state_dir).mkdir(parents=True, exist_ok=True)
        _write_atomically(Path(self.marker), self.config())

    def launch(self) -> None:
        self.process.spawn([
            "prometheus", f"--config.file={self.marker}",
            f"--storage.tsdb.path={self.home / 'data'}",
            f"--web.listen-address={HOST}:{self.port}",
            # Tests and `make demo` reload rules and config over HTTP (POST /-/reload).
            "--web.enable-lifecycle",
            # Resend firing alerts every 2s, not every minute: the first sends of a fresh server
            # go out before it has discovered Alertmanager, and a test would wait a minute.
            "--rules.alert.resend-delay=2s",
            "--storage.tsdb.retention.time=7d", "--log.level=warn",
        ])

    def healthy(self) -> bool:
        return super().healthy() and http_ok(f"{self.url}/-/ready")

    def reload(self) -> None:
        """Re-read prometheus.yml and the rule files (after a change to either)."""
        _write_atomically(Path(self.marker), self.config())
        if not http_ok(f"{self.url}/-/reload", method="POST", timeout=10):
            raise StackError(f"prometheus: reload at {self.url} failed; see {self.process.logfile}")

    def env(self) -> dict[str, str]:
        return {"PROMETHEUS_URL": self.url}


class Alertmanager(Service):
    """Debian's `prometheus-alertmanager`: one route, to one webhook, with short waits for tests."""

    name = "alertmanager"

    def __init__(self, state_dir: Path, ports: Ports, webhook_url: str | None = None) -> None:
        super().__init__(state_dir, ports)
        self.webhook_url = webhook_url

    @property
    def home(self) -> Path:
        return self.state_dir / "alertmanager"

    @property
    def marker(self) -> str:
        return str(self.home / "alertmanager.yml")

    @property
    def port(self) -> int:
        return self.ports.alertmanager

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def config(self) -> str:
        receiver: dict[str, object] = {"name": "default"}
        if self.webhook_url:
            receiver["webhook_configs"] = [{"url": self.webhook_url, "send_resolved": True}]
        return json.dumps({
            # Short waits: a test sees a notification within seconds of the alert.
            "route": {"receiver": "default", "group_by": ["alertname"], "group_wait": "1s",
                      "group_interval": "1s", "repeat_interval": "1h"},
            "receivers": [receiver],
        }, indent=2) + "\n"

    def prepare(self) -> None:
        if shutil.which("prometheus-alertmanager") is None:
            raise StackError("alertmanager is not installed "
                             "(apt-get install prometheus-alertmanager)")
        self.home.mkdir(parents=True, exist_ok=True)
        _write_atomically(Path(self.marker), self.config())

    def launch(self) -> None:
        self.process.spawn([
            "prometheus-alertmanager", f"--config.file={self.marker}",
            f"--storage.path={self.home / 'data'}",
            f"--web.listen-address={HOST}:{self.port}",
            # A single instance: no gossip port, nothing listening beyond loopback.
            "--cluster.listen-address=", "--log.level=warn",
        ])

    def healthy(self) -> bool:
        return super().healthy() and http_ok(f"{self.url}/-/ready")

    def set_webhook(self, url: str | None) -> None:
        """Send every notification to `url` (None: to nobody) from now on."""
        self.webhook_url = url
        _write_atomically(Path(self.marker), self.config())
        if self.process.pid() is not None and not http_ok(
                f"{self.url}/-/reload", method="POST", timeout=10):
            raise StackError(f"alertmanager: reload at {self.url} failed; "
                             f"see {self.process.logfile}")

    def env(self) -> dict[str, str]:
        return {"ALERTMANAGER_URL": self.url}
