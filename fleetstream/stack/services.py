"""The core services of the local stack: Kafka (KRaft), PostgreSQL and VictoriaMetrics.

Why it exists: tests and `make demo` run against real servers, owned by the project and started on
loopback without Docker. Each service has the same shape: `prepare()` (one-time set-up that is
cached: jars, initdb, storage format), `start()`, `healthy()`, `stop()` and `env()` (what it adds
to `.stack/env`). This module must not know about the application: it only runs servers.
The monitoring services (Prometheus, Alertmanager) are in `monitoring.py`, InfluxDB 1.x in
`influxdb1.py`.
"""

from __future__ import annotations

import base64
import hashlib
import os
import pwd
import secrets
import shutil
import signal
import subprocess
import uuid
from abc import ABC, abstractmethod
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from fleetstream.stack.process import ManagedProcess, StackError, log_tail, port_open, wait_until
from fleetstream.stack.tls import BrokerTls

HOST = "127.0.0.1"


@dataclass(frozen=True)
class Ports:
    """Loopback ports of the stack; non-default ones so a system-wide server does not collide."""

    kafka: int = 9092
    kafka_controller: int = 9093
    kafka_secure: int = 59094
    """The SASL_SSL listener, open only when the stack runs with `secure=True`."""
    postgres: int = 55432
    tsdb: int = 8428
    prometheus: int = 59090
    alertmanager: int = 59093
    influxdb1: int = 58086
    influxdb1_rpc: int = 58088
    """InfluxDB's backup/restore RPC port; 1.x always binds one."""


class Service(ABC):
    """A server of the local stack, started and stopped by pid."""

    name: str
    start_timeout: float = 60.0
    stop_signal: int = signal.SIGTERM

    def __init__(self, state_dir: Path, ports: Ports) -> None:
        self.state_dir = state_dir
        self.ports = ports
        self.process = ManagedProcess(self.name, state_dir, self.marker)

    @property
    @abstractmethod
    def marker(self) -> str:
        """A string found in this service's command line only."""

    @property
    @abstractmethod
    def port(self) -> int: ...

    @abstractmethod
    def prepare(self) -> None: ...

    @abstractmethod
    def launch(self) -> None: ...

    @abstractmethod
    def env(self) -> dict[str, str]: ...

    def healthy(self) -> bool:
        return self.process.pid() is not None and port_open(HOST, self.port)

    def start(self) -> bool:
        """Start unless already running; True if this call started it."""
        if self.healthy():
            return False
        if port_open(HOST, self.port):
            raise StackError(
                f"{self.name}: port {self.port} is taken by a process this stack did not start"
            )
        self.prepare()
        self.launch()
        came_up = wait_until(lambda: self.healthy() or self.process.exited_early(),
                             self.start_timeout)
        tail = f"log tail ({self.process.logfile}):\n{log_tail(self.process.logfile)}"
        if not came_up:
            self.process.stop()
            raise StackError(f"{self.name} not healthy within {self.start_timeout:.0f}s; {tail}")
        if not self.healthy():
            raise StackError(f"{self.name} exited during start-up; {tail}")
        return True

    def stop(self) -> bool:
        stopped = self.process.stop(sig=self.stop_signal)
        if not wait_until(lambda: not port_open(HOST, self.port), 15):
            raise StackError(f"{self.name}: port {self.port} still accepts connections after stop")
        return stopped

    def describe(self) -> str:
        pid = self.process.pid()
        state = f"up (pid {pid})" if pid and self.healthy() else "down"
        return f"{self.name:<16} {state:<18} {HOST}:{self.port}"


def _run(argv: list[str], what: str, user: str | None = None, cwd: Path | None = None) -> str:
    result = subprocess.run(argv, capture_output=True, text=True, user=user, cwd=cwd, check=False)
    if result.returncode != 0:
        raise StackError(f"{what} failed (exit {result.returncode}):\n{result.stdout[-2000:]}"
                         f"{result.stderr[-2000:]}")
    return result.stdout


class Kafka(Service):
    """Apache Kafka, single node, KRaft combined broker+controller, jars from Maven Central.

    With `secure=True` the broker also opens a SASL_SSL listener (`Ports.kafka_secure`) that
    accepts the user `fleetstream` over PLAIN (JAAS), SCRAM-SHA-256 and SCRAM-SHA-512, with a
    certificate signed by the stack's own CA; `secure_env()` is what a client needs to use it.
    The PLAINTEXT listener stays for the broker itself and the tests that do not test security.
    """

    name = "kafka"
    version = "4.1.1"
    sasl_user = "fleetstream"
    scram_mechanisms = ("SCRAM-SHA-256", "SCRAM-SHA-512")

    def __init__(self, state_dir: Path, ports: Ports, secure: bool = False) -> None:
        super().__init__(state_dir, ports)
        self.secure = secure
        self.tls = BrokerTls(state_dir / "kafka" / "tls")

    @property
    def home(self) -> Path:
        return self.state_dir / "kafka"

    def sasl_password(self) -> str:
        """The stack user's password, made once and kept in the state dir."""
        path = self.home / "sasl.password"
        if not path.exists():
            self.home.mkdir(parents=True, exist_ok=True)
            path.write_text(secrets.token_urlsafe(18) + "\n")
            path.chmod(0o600)
        return path.read_text().strip()

    @property
    def marker(self) -> str:
        return str(self.state_dir / "kafka" / "server.properties")

    @property
    def port(self) -> int:
        return self.ports.kafka

    @property
    def jar_dir(self) -> Path:
        cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
        return cache / "fleetstream" / f"kafka-{self.version}"

    def jars_cached(self) -> bool:
        return (self.jar_dir / ".complete").exists()

    def resolve_jars(self) -> None:
        """Copy the broker's runtime classpath from Maven Central into the cache, once."""
        if self.jars_cached():
            return
        if shutil.which("mvn") is None:
            raise StackError("kafka: `mvn` is not installed (apt-get install maven)")
        libs = self.jar_dir / "libs"
        shutil.rmtree(libs, ignore_errors=True)
        pom = resources.files("fleetstream.stack").joinpath("kafka-pom.xml")
        with resources.as_file(pom) as pom_path:
            _run(["mvn", "-q", "-B", "-f", str(pom_path), f"-Dkafka.version={self.version}",
                  "dependency:copy-dependencies", f"-DoutputDirectory={libs}",
                  "-DincludeScope=runtime"], "kafka: resolving broker jars with mvn")
        (self.jar_dir / ".complete").write_text(self.version)

    def _java(self, main: str, *args: str, heap: str = "-Xmx256m") -> list[str]:
        log4j = resources.files("fleetstream.stack").joinpath("kafka-log4j2.properties")
        return ["java", heap, "-XX:+UseG1GC", "-Djava.awt.headless=true",
                f"-Dlog4j2.configurationFile={log4j}", "-cp", f"{self.jar_dir / 'libs'}/*",
                main, *args]

    def _listener_properties(self) -> list[str]:
        plain = f"PLAINTEXT://{HOST}:{self.ports.kafka}"
        controller = f"CONTROLLER://{HOST}:{self.ports.kafka_controller}"
        if not self.secure:
            return [f"listeners={plain},{controller}", f"advertised.listeners={plain}",
                    "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT"]
        self.tls.ensure()
        secure = f"SASL_SSL://{HOST}:{self.ports.kafka_secure}"
        password = self.sasl_password()
        scram = "org.apache.kafka.common.security.scram.ScramLoginModule required;"
        return [
            f"listeners={plain},{controller},{secure}",
            f"advertised.listeners={plain},{secure}",
            "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT,"
            "SASL_SSL:SASL_SSL",
            "inter.broker.listener.name=PLAINTEXT",
            "listener.name.sasl_ssl.sasl.enabled.mechanisms=PLAIN,"
            + ",".join(self.scram_mechanisms),
            # PLAIN users are declared in JAAS; SCRAM users live in the cluster metadata.
            "listener.name.sasl_ssl.plain.sasl.jaas.config="
            "org.apache.kafka.common.security.plain.PlainLoginModule required "
            f'username="{self.sasl_user}" password="{password}" '
            f'user_{self.sasl_user}="{password}";',
            *(f"listener.name.sasl_ssl.{m.lower()}.sasl.jaas.config={scram}"
              for m in self.scram_mechanisms),
            f"ssl.keystore.location={self.tls.keystore}",
            "ssl.keystore.type=PKCS12",
            f"ssl.keystore.password={self.tls.password()}",
            f"ssl.key.password={self.tls.password()}",
        ]

    @property
    def _scram_marker(self) -> Path:
        return self.home / "scram-user.created"

    def prepare(self) -> None:
        self.resolve_jars()
        home = self.home
        data = home / "data"
        home.mkdir(parents=True, exist_ok=True)
        props = home / "server.properties"
        props.write_text("\n".join([
            "process.roles=broker,controller",
            "node.id=1",
            *self._listener_properties(),
            "controller.listener.names=CONTROLLER",
            f"controller.quorum.bootstrap.servers={HOST}:{self.ports.kafka_controller}",
            f"log.dirs={data}",
            # Topics are declared by fleetstream with their partition counts; an auto-created
            # topic would get the wrong count and break table co-partitioning.
            "auto.create.topics.enable=false",
            "num.partitions=8",
            "offsets.topic.replication.factor=1",
            "offsets.topic.num.partitions=8",
            "transaction.state.log.replication.factor=1",
            "transaction.state.log.min.isr=1",
            "share.coordinator.state.topic.replication.factor=1",
            "share.coordinator.state.topic.min.isr=1",
            "group.initial.rebalance.delay.ms=0",
            "log.retention.hours=-1",
            "",
        ]))
        if not (data / "meta.properties").exists():
            cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
            # The SCRAM user is created with the storage, secure or not, so that a later
            # `--secure` start finds it; `--add-scram` only works at format time.
            scram = [f"--add-scram={m}=[name={self.sasl_user},password={self.sasl_password()}]"
                     for m in self.scram_mechanisms]
            # `--cluster-id=ID` form: a base64 id may begin with "-", which argparse would
            # take for an option.
            _run(self._java("kafka.tools.StorageTool", "format", "--standalone",
                            f"--cluster-id={cluster_id}", "-c", str(props), *scram),
                 "kafka: formatting KRaft storage")
            self._scram_marker.write_text(self.sasl_user + "\n")

    def start(self) -> bool:
        if self.secure and super().healthy() and not port_open(HOST, self.ports.kafka_secure):
            raise StackError("kafka runs without its SASL_SSL listener; `fleetstream stack down` "
                             "first, then `fleetstream stack up --secure`")
        started = super().start()
        if self.secure and not self._scram_marker.exists():
            # Storage formatted before the stack made SCRAM users: add the user through the
            # broker's admin API instead.
            # One mechanism per call: the broker refuses two credentials of a user in one request.
            for mechanism in self.scram_mechanisms:
                _run(self._java("kafka.admin.ConfigCommand", "--bootstrap-server",
                                f"{HOST}:{self.ports.kafka}", "--alter", "--add-config",
                                f"{mechanism}=[password={self.sasl_password()}]",
                                "--entity-type", "users", "--entity-name", self.sasl_user),
                     f"kafka: creating the {mechanism} user")
            self._scram_marker.write_text(self.sasl_user + "\n")
        return started

    def launch(self) -> None:
        self.process.spawn(self._java("kafka.Kafka", str(self.marker), heap="-Xmx512m"))

    def healthy(self) -> bool:
        # The whole log: client activity pushes the start line out of any fixed-size tail.
        healthy = super().healthy() and "Kafka Server started" in log_tail(self.process.logfile, 0)
        return healthy and (not self.secure or port_open(HOST, self.ports.kafka_secure))

    def env(self) -> dict[str, str]:
        return {"KAFKA_BOOTSTRAP_SERVERS": f"{HOST}:{self.ports.kafka}"}

    def secure_env(self, mechanism: str = "SCRAM-SHA-256") -> dict[str, str]:
        """The client settings for the SASL_SSL listener (written to `kafka-secure.env`)."""
        return {
            "KAFKA_BOOTSTRAP_SERVERS": f"{HOST}:{self.ports.kafka_secure}",
            "KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
            "KAFKA_SASL_MECHANISM": mechanism,
            "KAFKA_SASL_USERNAME": self.sasl_user,
            "KAFKA_SASL_PASSWORD": self.sasl_password(),
            "KAFKA_SSL_CAFILE": str(self.tls.ca_cert),
        }


def _postgres_bindir() -> Path:
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin/postgres"),
                        key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit()
                        else 0)
    if not candidates:
        raise StackError("postgresql: server binaries not found under /usr/lib/postgresql "
                         "(apt-get install postgresql)")
    return candidates[-1].parent


class Postgres(Service):
    """A project-owned PostgreSQL cluster on its own port, with the application's database."""

    name = "postgres"
    # SIGINT is PostgreSQL's "fast" shutdown: abort sessions, checkpoint, exit.
    stop_signal = signal.SIGINT
    user = "fleetstream"
    database = "fleetstream"

    @property
    def marker(self) -> str:
        return str(self.data_dir)

    @property
    def port(self) -> int:
        return self.ports.postgres

    @property
    def data_dir(self) -> Path:
        """The cluster's directory: under the state dir, or, as root, in the postgres user's home.

        As root the server runs as `postgres`, which cannot enter a root-only checkout (a home
        directory or pytest's temporary directory): its data directory then lives under
        `~postgres/fleetstream/`, named after the state dir, and the state dir links to it.
        """
        if self.os_user is None:
            return self.state_dir / "postgres"
        digest = hashlib.sha1(str(self.state_dir).encode()).hexdigest()[:12]
        return Path(pwd.getpwnam(self.os_user).pw_dir) / "fleetstream" / f"stack-{digest}"

    @property
    def os_user(self) -> str | None:
        """PostgreSQL refuses to run as root; as root, run it as the `postgres` system user."""
        if os.geteuid() != 0:
            return None
        try:
            pwd.getpwnam("postgres")
        except KeyError as exc:
            raise StackError("postgresql: running as root needs the `postgres` system user "
                             "(apt-get install postgresql)") from exc
        return "postgres"

    def prepare(self) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if self.os_user:
            for directory in (self.data_dir.parent, self.data_dir):
                shutil.chown(directory, self.os_user, self.os_user)
            self.data_dir.chmod(0o700)
            link = self.state_dir / "postgres"
            if not link.is_symlink():
                link.symlink_to(self.data_dir)
        if not (self.data_dir / "PG_VERSION").exists():
            _run([str(_postgres_bindir() / "initdb"), "-D", str(self.data_dir), "-U", self.user,
                  "--auth=trust", "-E", "UTF8", "--no-sync"],
                 "postgresql: initdb", user=self.os_user, cwd=self.data_dir)

    def launch(self) -> None:
        bindir = _postgres_bindir()
        self.process.logfile.touch()
        if self.os_user:
            shutil.chown(self.process.logfile, self.os_user, self.os_user)
        self.process.spawn(
            [str(bindir / "postgres"), "-D", str(self.data_dir), "-p", str(self.port),
             "-h", HOST, "-k", str(self.data_dir), "-c", "fsync=on",
             "-c", "max_connections=200", "-c", "shared_buffers=128MB"],
            user=self.os_user, cwd=self.data_dir,
        )

    def healthy(self) -> bool:
        if not super().healthy():
            return False
        bindir = _postgres_bindir()
        probe = subprocess.run(
            [str(bindir / "psql"), "-h", HOST, "-p", str(self.port), "-U", self.user,
             "-d", "postgres", "-tAc",
             f"SELECT 1 FROM pg_database WHERE datname = '{self.database}'"],
            capture_output=True, text=True, check=False)
        if probe.returncode != 0:
            return False
        if probe.stdout.strip() != "1":
            _run([str(bindir / "createdb"), "-h", HOST, "-p", str(self.port), "-U", self.user,
                  self.database], "postgresql: createdb")
        return True

    def env(self) -> dict[str, str]:
        return {"DATABASE_URL": f"postgresql://{self.user}@{HOST}:{self.port}/{self.database}"}


class VictoriaMetrics(Service):
    """Debian's victoria-metrics: the line-protocol TSDB standing in for InfluxDB 3."""

    name = "victoria-metrics"
    database = "fleetstream"
    http_auth: tuple[str, str] | None = None
    """(user, password) it requires of every write and query (`-httpAuth.*`: HTTP basic auth);
    None: no auth, as the stack runs it. Tests that check credentials set it before `start()`."""

    @property
    def marker(self) -> str:
        return str(self.state_dir / "victoria-metrics-data")

    @property
    def port(self) -> int:
        return self.ports.tsdb

    def prepare(self) -> None:
        if shutil.which("victoria-metrics") is None:
            raise StackError("victoria-metrics is not installed (apt-get install victoria-metrics)")
        Path(self.marker).mkdir(parents=True, exist_ok=True)

    def launch(self) -> None:
        self.process.spawn([
            "victoria-metrics", f"-storageDataPath={self.marker}",
            f"-httpListenAddr={HOST}:{self.port}",
            # Tests write points with old timestamps; keep everything.
            "-retentionPeriod=100y", "-search.disableCache", "-loggerLevel=WARN",
            # InfluxDB's rule: a point written again (same series and timestamp) replaces the
            # first, so a replay is idempotent. VictoriaMetrics keeps both raw samples unless
            # told to keep one per millisecond.
            "-dedup.minScrapeInterval=1ms",
            *([f"-httpAuth.username={self.http_auth[0]}",
               f"-httpAuth.password={self.http_auth[1]}"] if self.http_auth else []),
        ])

    def env(self) -> dict[str, str]:
        return {"INFLUX_URL": f"http://{HOST}:{self.port}", "INFLUX_DB": self.database,
                "INFLUX_TOKEN": "fleetstream-local"}
