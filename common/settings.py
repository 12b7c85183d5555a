"""Every fleetstream setting, declared once: name, type, default, environment variable, secrecy.

Why it exists: configuration is read in exactly one place, validated at start with a single message
naming every missing or invalid setting, and shown masked. No other module reads `os.environ` for
configuration; they receive a `Settings` object.

Seed 002's variable names (LIBVIRT_URI, INFLUX_*, POLL_INTERVAL, BATCH_*, DEVICE_CACHE_TTL,
LIBVIRT_TIMEOUT) are kept as they are; fleetstream's own settings are prefixed `FLEETSTREAM_`.
A `.env` file in the working directory is read too; real environment variables win over it.
"""

from __future__ import annotations

import os
import re
import socket
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

MASK = "***"

WORKER = "worker"
NODE_AGENT = "node-agent"
VM_AGENT = "vm-agent"
HEARTBEAT = "heartbeat"
BACKUP_REPORT = "backup-report"
PRODUCERS = frozenset({NODE_AGENT, VM_AGENT, HEARTBEAT, BACKUP_REPORT})
PROCESSES = frozenset({WORKER}) | PRODUCERS
"""Each process reads and shows only the settings of its own section (`Setting.used_by`)."""
_ALL = PROCESSES
_WORKER = frozenset({WORKER})
_VM = frozenset({VM_AGENT})
_NODE = frozenset({NODE_AGENT})


class ConfigError(ValueError):
    """Raised when one or more settings are missing or invalid; the message names every one."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__(
            "invalid configuration:\n" + "\n".join(f"  - {problem}" for problem in problems)
        )


def _positive_int(raw: str) -> int:
    value = int(raw)
    if value <= 0:
        raise ValueError("must be a positive integer")
    return value


def _positive_float(raw: str) -> float:
    value = float(raw)
    if not value > 0:
        raise ValueError("must be a positive number")
    return value


def _port(raw: str) -> int:
    value = int(raw)
    if not 0 < value < 65536:
        raise ValueError("must be a TCP port between 1 and 65535")
    return value


def _non_empty(raw: str) -> str:
    if not raw.strip():
        raise ValueError("must not be empty")
    return raw.strip()


def _optional(raw: str) -> str:
    return raw.strip()


def _topic_prefix(raw: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9._-]*", raw):
        raise ValueError("may only contain letters, digits, '.', '_' and '-'")
    return raw


def _log_level(raw: str) -> str:
    level = raw.strip().lower()
    if level not in {"debug", "info", "warn", "error", "crit"}:
        raise ValueError("must be one of debug, info, warn, error, crit")
    return level


def _path(raw: str) -> Path:
    return Path(raw).expanduser()


def mask_url(url: str) -> str:
    """Hide the password (or a lone token) in a URL's user-info part."""
    parts = urlsplit(url)
    if not parts.netloc or "@" not in parts.netloc:
        return url
    userinfo, host = parts.netloc.rsplit("@", 1)
    if ":" not in userinfo:
        return url
    user = userinfo.split(":", 1)[0]
    return urlunsplit(parts._replace(netloc=f"{user}:{MASK}@{host}"))


@dataclass(frozen=True)
class Setting:
    """One declared setting: where it comes from, how it is parsed, and how it is shown."""

    attr: str
    env: str
    parse: Callable[[str], Any]
    default: str | None
    doc: str
    used_by: frozenset[str]
    secret: bool = False
    url_with_credentials: bool = False

    def shown(self, value: Any) -> str:
        if value is None or value == "":
            return ""
        if self.secret:
            return MASK
        if self.url_with_credentials:
            return mask_url(str(value))
        return str(value)


SETTINGS: tuple[Setting, ...] = (
    Setting("kafka_bootstrap_servers", "KAFKA_BOOTSTRAP_SERVERS", _non_empty, "127.0.0.1:9092",
            "Kafka bootstrap servers, host:port[,host:port].", used_by=_ALL),
    Setting("database_url", "DATABASE_URL", _non_empty,
            "postgresql://fleetstream@127.0.0.1:55432/fleetstream",
            "PostgreSQL URL for the projections.", used_by=_WORKER, url_with_credentials=True),
    Setting("influx_url", "INFLUX_URL", _non_empty, "http://127.0.0.1:8428",
            "InfluxDB (or line-protocol TSDB) base URL.", used_by=_WORKER),
    Setting("influx_db", "INFLUX_DB", _non_empty, "fleetstream", "InfluxDB database (bucket).",
            used_by=_WORKER),
    Setting("influx_token", "INFLUX_TOKEN", _optional, "", "InfluxDB API token.",
            used_by=_WORKER, secret=True),
    Setting("batch_max_lines", "BATCH_MAX_LINES", _positive_int, "2000",
            "Flush a sink batch at this many rows/lines.", used_by=_WORKER),
    Setting("batch_max_sec", "BATCH_MAX_SEC", _positive_float, "1.0",
            "Flush a sink batch after this many seconds.", used_by=_WORKER),
    Setting("libvirt_uri", "LIBVIRT_URI", _non_empty, "qemu:///system",
            "libvirt connection URI for the VM agent.", used_by=_VM, url_with_credentials=True),
    Setting("poll_interval", "POLL_INTERVAL", _positive_float, "1.0",
            "VM agent polling interval, seconds.", used_by=_VM),
    Setting("device_cache_ttl", "DEVICE_CACHE_TTL", _positive_float, "300",
            "Seconds a domain's NIC/disk names are cached.", used_by=_VM),
    Setting("libvirt_timeout", "LIBVIRT_TIMEOUT", _positive_float, "30.0",
            "Seconds one libvirt call may take.", used_by=_VM),
    Setting("vm_agent_host", "FLEETSTREAM_VM_AGENT_HOST", _non_empty, "127.0.0.1",
            "Address the VM agent's control API binds.", used_by=_VM),
    Setting("vm_agent_port", "FLEETSTREAM_VM_AGENT_PORT", _port, "8765",
            "Port of the VM agent's control API (seed 002's /api/telemetry/*).", used_by=_VM),
    Setting("topic_prefix", "FLEETSTREAM_TOPIC_PREFIX", _topic_prefix, "telemetry.",
            "Prefix of every fleetstream topic.", used_by=_ALL),
    Setting("partitions", "FLEETSTREAM_PARTITIONS", _positive_int, "8",
            "Partitions of each fleetstream topic.", used_by=_WORKER),
    Setting("fetch_max_wait_ms", "FLEETSTREAM_FETCH_MAX_WAIT_MS", _positive_int, "1500",
            "Longest the broker holds a consumer fetch waiting for data, milliseconds "
            "(Faust's own value by default; see docs/performance.md).", used_by=_WORKER),
    Setting("app_id", "FLEETSTREAM_APP_ID", _non_empty, "fleetstream",
            "Faust application id (consumer group and changelog topic prefix).", used_by=_WORKER),
    Setting("stale_after_seconds", "FLEETSTREAM_STALE_AFTER_SECONDS", _positive_float, "60",
            "A running backup job silent this long is stale.", used_by=_WORKER),
    Setting("stalled_after_seconds", "FLEETSTREAM_STALLED_AFTER_SECONDS", _positive_float, "300",
            "A running backup job silent this long is stalled.", used_by=_WORKER),
    Setting("worker_inactive_seconds", "FLEETSTREAM_WORKER_INACTIVE_SECONDS", _positive_float,
            "30", "A worker without a heartbeat this long is inactive.", used_by=_WORKER),
    Setting("sweep_interval_seconds", "FLEETSTREAM_SWEEP_INTERVAL_SECONDS", _positive_float,
            "1.0", "How often staleness/inactivity is checked.", used_by=_WORKER),
    Setting("web_host", "FLEETSTREAM_WEB_HOST", _non_empty, "127.0.0.1",
            "Host other workers reach this HTTP server at (also bound unless WEB_BIND is set).",
            used_by=_WORKER),
    Setting("web_bind", "FLEETSTREAM_WEB_BIND", _optional, "",
            "Address the HTTP server binds (empty: FLEETSTREAM_WEB_HOST), e.g. 0.0.0.0.",
            used_by=_WORKER),
    Setting("web_port", "FLEETSTREAM_WEB_PORT", _port, "6066", "HTTP port of the worker.",
            used_by=_WORKER),
    Setting("ingest_token", "FLEETSTREAM_INGEST_TOKEN", _optional, "",
            "Bearer token required by the ingest endpoints (empty: no token).",
            used_by=_WORKER, secret=True),
    Setting("max_body_bytes", "FLEETSTREAM_MAX_BODY_BYTES", _positive_int, "1048576",
            "Largest ingest request body accepted (413 above).", used_by=_WORKER),
    Setting("data_dir", "FLEETSTREAM_DATA_DIR", _path, "~/.local/share/fleetstream",
            "Directory for local state: the outbox and the Faust table stores.", used_by=_ALL),
    Setting("outbox_max_events", "FLEETSTREAM_OUTBOX_MAX_EVENTS", _positive_int, "100000",
            "Most events the producer outbox holds; the oldest are dropped beyond it.",
            used_by=PRODUCERS),
    Setting("outbox_max_bytes", "FLEETSTREAM_OUTBOX_MAX_BYTES", _positive_int, "268435456",
            "Most payload bytes the producer outbox holds; the oldest are dropped beyond it.",
            used_by=PRODUCERS),
    Setting("node_id", "FLEETSTREAM_NODE_ID", _optional, "",
            "Node id the node agent reports (empty: this host's name).", used_by=_NODE),
    Setting("node_interval", "FLEETSTREAM_NODE_INTERVAL", _positive_float, "60",
            "Node agent collection interval, seconds.", used_by=_NODE),
    Setting("log_level", "FLEETSTREAM_LOG_LEVEL", _log_level, "info", "Log level.", used_by=_ALL),
)


@dataclass(frozen=True)
class Settings:
    """Validated configuration. Build it with `Settings.load()`; show it with `masked()`."""

    kafka_bootstrap_servers: str
    database_url: str
    influx_url: str
    influx_db: str
    influx_token: str
    batch_max_lines: int
    batch_max_sec: float
    libvirt_uri: str
    poll_interval: float
    device_cache_ttl: float
    libvirt_timeout: float
    vm_agent_host: str
    vm_agent_port: int
    topic_prefix: str
    partitions: int
    fetch_max_wait_ms: int
    app_id: str
    stale_after_seconds: float
    stalled_after_seconds: float
    worker_inactive_seconds: float
    sweep_interval_seconds: float
    web_host: str
    web_bind: str
    web_port: int
    ingest_token: str
    max_body_bytes: int
    data_dir: Path
    outbox_max_events: int
    outbox_max_bytes: int
    node_id: str
    node_interval: float
    log_level: str

    @classmethod
    def load(
        cls, environ: Mapping[str, str] | None = None, dotenv: Path | None = Path(".env"),
        process: str | None = None,
    ) -> Settings:
        """Read the settings from `environ` (default: the process environment) over `.env`.

        With `process`, only that process's section is read from the environment; the others
        keep their defaults (a node agent is not stopped by a bad `DATABASE_URL` it never uses).
        """
        if process is not None and process not in PROCESSES:
            raise ValueError(f"unknown process {process!r}; one of {sorted(PROCESSES)}")
        source: dict[str, str] = {}
        if dotenv is not None and dotenv.is_file():
            source.update(read_dotenv(dotenv))
        source.update(os.environ if environ is None else environ)
        values: dict[str, Any] = {}
        problems: list[str] = []
        for setting in SETTINGS:
            mine = process is None or process in setting.used_by
            raw = source.get(setting.env, setting.default) if mine else setting.default
            if raw is None:
                problems.append(f"{setting.env} is required ({setting.doc})")
                continue
            try:
                values[setting.attr] = setting.parse(raw)
            except ValueError as exc:
                shown = MASK if setting.secret else raw
                problems.append(f"{setting.env}={shown!r} is invalid: {exc}")
        if not problems and values["stalled_after_seconds"] <= values["stale_after_seconds"]:
            problems.append(
                "FLEETSTREAM_STALLED_AFTER_SECONDS must be greater than "
                "FLEETSTREAM_STALE_AFTER_SECONDS"
            )
        if problems:
            raise ConfigError(problems)
        return cls(**values)

    def masked(self, process: str | None = None) -> dict[str, str]:
        """Environment variable -> value as safe to show or log (secrets and credentials hidden).

        With `process`, only the settings of that process's section.
        """
        return {s.env: s.shown(getattr(self, s.attr)) for s in SETTINGS
                if process is None or process in s.used_by}

    def topic(self, name: str) -> str:
        """The full topic name of a fleetstream topic, e.g. `topic('backup')`."""
        return f"{self.topic_prefix}{name}"

    @property
    def effective_node_id(self) -> str:
        return self.node_id or socket.gethostname()

    @property
    def web_url(self) -> str:
        return f"http://{self.web_host}:{self.web_port}"


def read_dotenv(path: Path) -> dict[str, str]:
    """Parse a `.env` file: KEY=VALUE lines, `#` comments, optional `export` and quotes."""
    result: dict[str, str] = {}
    for raw_line in path.read_text().splitlines():
        line = raw_line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, value = line.removeprefix("export ").split("=", 1)
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        result[key.strip()] = value
    return result

