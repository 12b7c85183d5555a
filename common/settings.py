"""Every fleetstream setting, declared once: name, type, default, environment variable, secrecy.

Why it exists: configuration is read in exactly one place, validated at start with a single message
naming every missing or invalid setting, and shown masked. No other module reads `os.environ` for
configuration; they receive a `Settings` object.

Seed 002's variable names (LIBVIRT_URI, INFLUX_*, POLL_INTERVAL, BATCH_*, DEVICE_CACHE_TTL,
LIBVIRT_TIMEOUT) are kept as they are; fleetstream's own settings are prefixed `FLEETSTREAM_`.
A `.env` file in the working directory is read too; real environment variables win over it.
"""

from __future__ import annotations

import ipaddress
import os
import re
import socket
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

MASK = "***"

WORKER = "worker"
NODE_AGENT = "node-agent"
VM_AGENT = "vm-agent"
HEARTBEAT = "heartbeat"
BACKUP_REPORT = "backup-report"
CLI = "cli"
"""The operator commands (workers, status, jobs, job, api, deadletter, outbox)."""
PRODUCERS = frozenset({NODE_AGENT, VM_AGENT, HEARTBEAT, BACKUP_REPORT})
PROCESSES = frozenset({WORKER, CLI}) | PRODUCERS
"""Each process reads and shows only the settings of its own section (`Setting.used_by`)."""
_ALL = PROCESSES
_WORKER = frozenset({WORKER})
_CLI = frozenset({CLI})
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


def _port_or_off(raw: str) -> int:
    value = int(raw)
    if not 0 <= value < 65536:
        raise ValueError("must be a TCP port between 1 and 65535, or 0 for off")
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


def http_url(raw: str) -> str:
    """An http(s) base URL with a host, e.g. `http://10.0.0.5:6066`; empty stays empty."""
    url = raw.strip()
    if not url:
        return ""
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise ValueError("must be an http:// or https:// URL with a host, e.g. "
                         "http://127.0.0.1:6066")
    try:
        parts.port  # noqa: B018 - urlsplit checks the port only when it is read
    except ValueError as exc:
        raise ValueError(f"has an invalid port ({exc})") from None
    return url.rstrip("/")


def _log_level(raw: str) -> str:
    level = raw.strip().lower()
    if level not in {"debug", "info", "warn", "error", "crit"}:
        raise ValueError("must be one of debug, info, warn, error, crit")
    return level


RETENTION_DEFAULTS = {"jobs": 86_400.0, "workers": 604_800.0, "nodes": 604_800.0,
                      "vms": 86_400.0}


def _retention(raw: str) -> dict[str, float]:
    """`jobs=86400,workers=604800`: seconds per table; tables not named keep their default."""
    result = dict(RETENTION_DEFAULTS)
    for part in filter(None, (p.strip() for p in raw.split(","))):
        name, sep, seconds = part.partition("=")
        if not sep or name.strip() not in RETENTION_DEFAULTS:
            raise ValueError(f"expected NAME=SECONDS with NAME one of {sorted(RETENTION_DEFAULTS)}")
        result[name.strip()] = _positive_float(seconds)
    return result


def _path(raw: str) -> Path:
    return Path(raw).expanduser()


def _optional_path(raw: str) -> Path | None:
    return Path(raw.strip()).expanduser() if raw.strip() else None


def _bool(raw: str) -> bool:
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"", "0", "false", "no", "off"}:
        return False
    raise ValueError("must be true or false")


def _one_of(*choices: str) -> Callable[[str], str]:
    def parse(raw: str) -> str:
        value = raw.strip().upper()
        if value not in choices:
            raise ValueError(f"must be one of {', '.join(choices)}")
        return value
    return parse


KAFKA_SECURITY_PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
KAFKA_SASL_MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")
INFLUX_AUTH_SCHEMES = ("TOKEN", "BEARER", "BASIC")


# A query parameter whose name contains one of these carries a secret (`?password=`, `?token=`,
# `api_key=`, `X-Amz-Signature=`); libvirt's `keyfile=`/`pkipath=` name files, not secrets.
_SECRET_QUERY_WORDS = ("pass", "pwd", "token", "secret", "auth", "credential", "apikey",
                       "api_key", "signature")


def _mask_query(query: str) -> str:
    masked = []
    for pair in query.split("&"):
        name, sep, _value = pair.partition("=")
        secret = sep and any(word in name.lower() for word in _SECRET_QUERY_WORDS)
        masked.append(f"{name}={MASK}" if secret else pair)
    return "&".join(masked)


def mask_url(url: str) -> str:
    """Hide the password (not the user) in a URL's user-info part, and secret query parameters."""
    parts = urlsplit(url)
    # Edited in place, not rebuilt: urlunsplit would turn `test:///default` into `test:/default`.
    masked = url
    if parts.netloc and "@" in parts.netloc:
        userinfo, host = parts.netloc.rsplit("@", 1)
        if ":" in userinfo:
            user = userinfo.split(":", 1)[0]
            masked = masked.replace(parts.netloc, f"{user}:{MASK}@{host}", 1)
    if parts.query:
        masked = masked.replace(f"?{parts.query}", f"?{_mask_query(parts.query)}", 1)
    return masked


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
        if self.url_with_credentials or "://" in str(value):
            # Any URL may carry credentials (`http://host?token=...`), not only the declared ones.
            return mask_url(str(value))
        return str(value)


SETTINGS: tuple[Setting, ...] = (
    Setting("kafka_bootstrap_servers", "KAFKA_BOOTSTRAP_SERVERS", _non_empty, "127.0.0.1:9092",
            "Kafka bootstrap servers, host:port[,host:port].", used_by=_ALL),
    Setting("kafka_security_protocol", "KAFKA_SECURITY_PROTOCOL",
            _one_of(*KAFKA_SECURITY_PROTOCOLS), "PLAINTEXT",
            "How clients talk to the brokers: PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL.",
            used_by=_ALL),
    Setting("kafka_sasl_mechanism", "KAFKA_SASL_MECHANISM", _one_of(*KAFKA_SASL_MECHANISMS),
            "PLAIN", "SASL mechanism (SASL_* protocols): PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512.",
            used_by=_ALL),
    Setting("kafka_sasl_username", "KAFKA_SASL_USERNAME", _optional, "",
            "SASL user name (SASL_* protocols).", used_by=_ALL),
    Setting("kafka_sasl_password", "KAFKA_SASL_PASSWORD", _optional, "",
            "SASL password (SASL_* protocols).", used_by=_ALL, secret=True),
    Setting("kafka_ssl_cafile", "KAFKA_SSL_CAFILE", _optional_path, "",
            "PEM file of the CAs that sign the brokers' certificates (empty: the system's).",
            used_by=_ALL),
    Setting("kafka_ssl_certfile", "KAFKA_SSL_CERTFILE", _optional_path, "",
            "PEM client certificate, for brokers that require TLS client authentication.",
            used_by=_ALL),
    Setting("kafka_ssl_keyfile", "KAFKA_SSL_KEYFILE", _optional_path, "",
            "PEM private key of KAFKA_SSL_CERTFILE (empty: in the certificate file).",
            used_by=_ALL),
    Setting("database_url", "DATABASE_URL", _non_empty,
            "postgresql://fleetstream@127.0.0.1:55432/fleetstream",
            "PostgreSQL URL for the projections.", used_by=_WORKER, url_with_credentials=True),
    Setting("influx_url", "INFLUX_URL", _non_empty, "http://127.0.0.1:8428",
            "InfluxDB (or line-protocol TSDB) base URL.", used_by=_WORKER),
    Setting("influx_db", "INFLUX_DB", _non_empty, "fleetstream", "InfluxDB database (bucket).",
            used_by=_WORKER),
    Setting("influx_token", "INFLUX_TOKEN", _optional, "",
            "InfluxDB API token (USER:PASSWORD when INFLUX_AUTH_SCHEME is BASIC).",
            used_by=_WORKER, secret=True),
    Setting("influx_auth_scheme", "INFLUX_AUTH_SCHEME", _one_of(*INFLUX_AUTH_SCHEMES), "TOKEN",
            "How INFLUX_TOKEN is sent: TOKEN (InfluxDB 3 and 2, 'Authorization: Token'), BEARER "
            "(InfluxDB 3 Core/Edge), BASIC (HTTP basic auth of USER:PASSWORD: VictoriaMetrics' "
            "-httpAuth.*, InfluxDB 1.x with auth-enabled).", used_by=_WORKER),
    Setting("alertmanager_url", "FLEETSTREAM_ALERTMANAGER_URL", http_url, "",
            "Alertmanager base URL the alerts are forwarded to (API v2; empty: not forwarded).",
            used_by=_WORKER, url_with_credentials=True),
    Setting("batch_max_lines", "BATCH_MAX_LINES", _positive_int, "2000",
            "Lines of one TSDB write request.", used_by=_WORKER),
    Setting("batch_max_sec", "BATCH_MAX_SEC", _positive_float, "1.0",
            "Longest a batch waits to fill: a TSDB batch (seed 002's InfluxDB batches), and a "
            "pipeline batch growing while a backlog waits.", used_by=_WORKER),
    Setting("batch_max_events", "FLEETSTREAM_BATCH_MAX_EVENTS", _positive_int, "10000",
            "Most events one pipeline batch holds (it grows to that only while more records "
            "wait than it holds: fewer writes per event when catching up).", used_by=_WORKER),
    Setting("batch_wait_seconds", "FLEETSTREAM_BATCH_WAIT_SECONDS", _positive_float, "0.05",
            "How long a pipeline batch waits for more events before it is processed, unless "
            "more records wait than it holds (then up to BATCH_MAX_SEC): small batches soon at "
            "low load, large ones under load.", used_by=_WORKER),
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
    Setting("vm_agent_token", "FLEETSTREAM_VM_AGENT_TOKEN", _optional, "",
            "Bearer token the VM agent's control API requires for start/stop (empty: refused).",
            used_by=_VM, secret=True),
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
    Setting("node_silent_seconds", "FLEETSTREAM_NODE_SILENT_SECONDS", _positive_float, "180",
            "A node without a snapshot this long is silent (a node.silent alert; default: three "
            "node intervals).", used_by=_WORKER),
    Setting("sweep_interval_seconds", "FLEETSTREAM_SWEEP_INTERVAL_SECONDS", _positive_float,
            "1.0", "How often staleness/inactivity is checked.", used_by=_WORKER),
    Setting("retention_seconds", "FLEETSTREAM_RETENTION_SECONDS", _retention, "",
            "How long ended jobs and silent workers/nodes/VMs stay in the live tables, e.g. "
            "'jobs=86400,workers=604800,nodes=604800,vms=86400' (the defaults); their "
            "PostgreSQL rows are kept.", used_by=_WORKER),
    Setting("web_host", "FLEETSTREAM_WEB_HOST", _non_empty, "127.0.0.1",
            "Host other workers reach this HTTP server at (also bound unless WEB_BIND is set).",
            used_by=_WORKER | _CLI),
    Setting("web_bind", "FLEETSTREAM_WEB_BIND", _optional, "",
            "Address the HTTP server binds (empty: FLEETSTREAM_WEB_HOST), e.g. 0.0.0.0.",
            used_by=_WORKER),
    Setting("web_port", "FLEETSTREAM_WEB_PORT", _port, "6066", "HTTP port of the worker.",
            used_by=_WORKER | _CLI),
    Setting("api_url", "FLEETSTREAM_WEB_URL", http_url, "",
            "Worker URL the query commands use (empty: FLEETSTREAM_WEB_HOST:FLEETSTREAM_WEB_PORT).",
            used_by=_CLI, url_with_credentials=True),
    Setting("ingest_token", "FLEETSTREAM_INGEST_TOKEN", _optional, "",
            "Bearer token required by the ingest endpoints and `DELETE /workers/{id}` (empty: "
            "no token); the query commands send it.", used_by=_WORKER | _CLI, secret=True),
    Setting("allow_anonymous_ingest", "FLEETSTREAM_ALLOW_ANONYMOUS_INGEST", _bool, "false",
            "Let a worker bound beyond loopback accept ingest without FLEETSTREAM_INGEST_TOKEN.",
            used_by=_WORKER),
    Setting("max_body_bytes", "FLEETSTREAM_MAX_BODY_BYTES", _positive_int, "1048576",
            "Largest ingest request body accepted (413 above).", used_by=_WORKER),
    Setting("max_clock_skew_seconds", "FLEETSTREAM_MAX_CLOCK_SKEW_SECONDS", _positive_float,
            "300", "Events timed this far past the worker's clock are rejected.",
            used_by=_WORKER),
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
    Setting("node_ws_port", "FLEETSTREAM_NODE_WS_PORT", _port_or_off, "8756",
            "Port of the node agent's seed 001 WebSocket stream, /health and /metrics (0: off).",
            used_by=_NODE),
    Setting("node_ws_bind", "FLEETSTREAM_NODE_WS_BIND", _non_empty, "127.0.0.1",
            "Address the node agent's WebSocket server binds, e.g. 0.0.0.0.", used_by=_NODE),
    Setting("log_level", "FLEETSTREAM_LOG_LEVEL", _log_level, "info", "Log level.", used_by=_ALL),
)


@dataclass(frozen=True)
class Settings:
    """Validated configuration. Build it with `Settings.load()`; show it with `masked()`."""

    kafka_bootstrap_servers: str
    kafka_security_protocol: str
    kafka_sasl_mechanism: str
    kafka_sasl_username: str
    kafka_sasl_password: str
    kafka_ssl_cafile: Path | None
    kafka_ssl_certfile: Path | None
    kafka_ssl_keyfile: Path | None
    database_url: str
    influx_url: str
    influx_db: str
    influx_token: str
    influx_auth_scheme: str
    alertmanager_url: str
    batch_max_lines: int
    batch_max_sec: float
    batch_max_events: int
    batch_wait_seconds: float
    libvirt_uri: str
    poll_interval: float
    device_cache_ttl: float
    libvirt_timeout: float
    vm_agent_host: str
    vm_agent_port: int
    vm_agent_token: str
    topic_prefix: str
    partitions: int
    fetch_max_wait_ms: int
    app_id: str
    stale_after_seconds: float
    stalled_after_seconds: float
    worker_inactive_seconds: float
    node_silent_seconds: float
    sweep_interval_seconds: float
    retention_seconds: dict[str, float]
    web_host: str
    web_bind: str
    web_port: int
    api_url: str
    ingest_token: str
    allow_anonymous_ingest: bool
    max_body_bytes: int
    max_clock_skew_seconds: float
    data_dir: Path
    outbox_max_events: int
    outbox_max_bytes: int
    node_id: str
    node_interval: float
    node_ws_port: int
    node_ws_bind: str
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
        if not problems:
            problems.extend(_kafka_security_problems(values))
        if values.get("influx_auth_scheme") == "BASIC" and ":" not in values["influx_token"]:
            problems.append("INFLUX_TOKEN must be USER:PASSWORD with INFLUX_AUTH_SCHEME=BASIC")
        if problems:
            raise ConfigError(problems)
        return cls(**values)

    def problems_for(self, process: str) -> list[str]:
        """What makes these settings unsafe to start `process` with; empty when it may start.

        Loading only checks each setting on its own; this checks what a combination exposes.
        A worker that listens beyond loopback without an ingest token would let anyone on the
        network write telemetry, so it must say so explicitly.
        """
        problems: list[str] = []
        if process == WORKER and not self.ingest_token and not self.allow_anonymous_ingest:
            bind = self.web_bind or self.web_host
            if not _is_loopback(bind):
                problems.append(
                    f"the worker would accept ingest from the network ({bind}:{self.web_port}) "
                    "without a token: set FLEETSTREAM_INGEST_TOKEN, bind to loopback with "
                    "FLEETSTREAM_WEB_BIND=127.0.0.1, or set FLEETSTREAM_ALLOW_ANONYMOUS_INGEST=true"
                )
        return problems

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
        """This worker's own URL (what its peers call), from FLEETSTREAM_WEB_HOST and _PORT."""
        return f"http://{self.web_host}:{self.web_port}"

    @property
    def query_url(self) -> str:
        """Where the query commands reach a worker: FLEETSTREAM_WEB_URL, else `web_url`."""
        return self.api_url or self.web_url


def _kafka_security_problems(values: Mapping[str, Any]) -> list[str]:
    """The Kafka security settings that contradict each other or name missing files."""
    problems: list[str] = []
    protocol = values["kafka_security_protocol"]
    if protocol.startswith("SASL_"):
        for attr, env in (("kafka_sasl_username", "KAFKA_SASL_USERNAME"),
                          ("kafka_sasl_password", "KAFKA_SASL_PASSWORD")):
            if not values[attr]:
                problems.append(f"{env} is required with KAFKA_SECURITY_PROTOCOL={protocol}")
    files = (("kafka_ssl_cafile", "KAFKA_SSL_CAFILE"), ("kafka_ssl_certfile", "KAFKA_SSL_CERTFILE"),
             ("kafka_ssl_keyfile", "KAFKA_SSL_KEYFILE"))
    for attr, env in files:
        path = values[attr]
        if path is None:
            continue
        if not protocol.endswith("SSL"):
            problems.append(f"{env} is set but KAFKA_SECURITY_PROTOCOL={protocol} uses no TLS")
        elif not path.is_file():
            problems.append(f"{env}={str(path)!r} is not a readable file")
    if values["kafka_ssl_keyfile"] is not None and values["kafka_ssl_certfile"] is None:
        problems.append("KAFKA_SSL_KEYFILE needs KAFKA_SSL_CERTFILE, the certificate of that key")
    return problems


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        # A host name other than localhost may resolve to any interface: not known to be loopback.
        return False


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

