"""Helpers for tests against the real local stack: isolated environments, worker processes, probes.

Each test gets its own topic prefix, Faust app id, PostgreSQL database, TSDB tag space, data dir and
web port, so tests never see each other's state, even when run side by side.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient

REPO = Path(__file__).resolve().parents[2]
FLEETSTREAM = str(Path(sys.executable).parent / "fleetstream")

T = TypeVar("T")


def read_env_file(path: Path) -> dict[str, str]:
    env: dict[str, str] = {}
    for line in path.read_text().splitlines():
        key, _, value = line.removeprefix("export ").partition("=")
        if key:
            env[key.strip()] = value.strip()
    return env


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def unique(prefix: str = "t") -> str:
    return f"{prefix}{uuid.uuid4().hex[:10]}"


async def create_database(admin_url: str, name: str) -> str:
    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    parts = urllib.parse.urlsplit(admin_url)
    return urllib.parse.urlunsplit(parts._replace(path=f"/{name}"))


async def wait_for(
    probe: Callable[[], Awaitable[T]], timeout: float = 30.0, interval: float = 0.25,
    what: str = "condition",
) -> T:
    """Poll an async probe until it returns something truthy; fail with `what` on timeout."""
    deadline = time.monotonic() + timeout
    last: T = await probe()
    while not last:
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}: {last!r}")
        await asyncio.sleep(interval)
        last = await probe()
    return last


async def attach_live_feed(
    ws: Any, send: Callable[[], Awaitable[object]], wanted: Callable[[dict[str, Any]], bool],
    timeout: float = 60.0, every: float = 1.0,
) -> dict[str, Any]:
    """Send `send()` every `every` s until the WebSocket `ws` delivers a message `wanted` accepts.

    A live feed starts reading its topics at their end when a client connects, so what is sent
    before it is attached is never seen; the first message of ours that comes through shows it is.
    """
    async with asyncio.timeout(timeout):
        while True:
            await send()
            try:
                async with asyncio.timeout(every):
                    while True:
                        message: dict[str, Any] = await ws.receive_json()
                        if wanted(message):
                            return message
            except TimeoutError:
                continue


def http(method: str, url: str, body: Any = None, headers: Mapping[str, str] | None = None,
         raw: bytes | None = None, timeout: float = 15.0) -> tuple[int, Any]:
    """A blocking HTTP call returning (status, parsed JSON or text). Use from tests only."""
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    request = urllib.request.Request(url, data=data, method=method,
                                     headers={"Content-Type": "application/json",
                                              **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            status, payload = response.status, response.read()
    except urllib.error.HTTPError as exc:
        status, payload = exc.code, exc.read()
    try:
        return status, json.loads(payload)
    except ValueError:
        return status, payload.decode(errors="replace")


async def ahttp(method: str, url: str, body: Any = None, **kwargs: Any) -> tuple[int, Any]:
    return await asyncio.to_thread(http, method, url, body, **kwargs)


@dataclass
class WorkerProcess:
    """A `fleetstream worker` subprocess with its own log file (`launcher`: an argv prefix
    that runs it elsewhere, e.g. `ip netns exec NAME`, which execs the worker in place)."""

    env: dict[str, str]
    log_path: Path
    proc: subprocess.Popen[bytes] | None = None
    launcher: list[str] = field(default_factory=list)

    @property
    def port(self) -> int:
        return int(self.env["FLEETSTREAM_WEB_PORT"])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> WorkerProcess:
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen([*self.launcher, FLEETSTREAM, "worker"],
                                         env=self.env, cwd=REPO,
                                         stdout=log, stderr=subprocess.STDOUT,
                                         start_new_session=True)
        return self

    async def wait_ready(self, timeout: float = 60.0) -> None:
        """Wait until the web server answers and the worker logged that it is ready."""

        async def ready() -> bool:
            if self.proc is not None and self.proc.poll() is not None:
                raise AssertionError(f"worker exited with {self.proc.returncode}:\n{self.log()}")
            try:
                status, _ = await ahttp("GET", f"{self.url}/health", timeout=2)
            except OSError:
                return False
            return status == 200 and "[^Worker]: Ready" in self.log()

        await wait_for(ready, timeout, 0.5, what=f"worker on port {self.port} to be ready")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30.0) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(sig)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)

    def kill(self) -> None:
        self.stop(signal.SIGKILL)


@dataclass
class AppEnv:
    """An isolated fleetstream environment on the shared local stack."""

    env: dict[str, str]
    tmp: Path
    workers: list[WorkerProcess] = field(default_factory=list)

    @property
    def prefix(self) -> str:
        return self.env["FLEETSTREAM_TOPIC_PREFIX"]

    def topic(self, name: str) -> str:
        return f"{self.prefix}{name}"

    @property
    def database_url(self) -> str:
        return self.env["DATABASE_URL"]

    @property
    def bootstrap(self) -> str:
        return self.env["KAFKA_BOOTSTRAP_SERVERS"]

    def with_overrides(self, **overrides: str) -> dict[str, str]:
        return {**self.env, **overrides}

    async def start_worker(self, **overrides: str) -> WorkerProcess:
        """Start a worker (another web port per extra worker) and wait until it is ready."""
        port = overrides.pop("FLEETSTREAM_WEB_PORT", None) or (
            self.env["FLEETSTREAM_WEB_PORT"] if not self.workers else str(free_port()))
        env = {**self.env, "FLEETSTREAM_WEB_PORT": port, **overrides}
        worker = WorkerProcess(env, self.tmp / f"worker-{port}-{len(self.workers)}.log").start()
        self.workers.append(worker)
        await worker.wait_ready()
        return worker

    def run_cli(self, *args: str, timeout: float = 60.0,
                **overrides: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([FLEETSTREAM, *args], env={**self.env, **overrides}, cwd=REPO,
                              capture_output=True, text=True, timeout=timeout, check=False)

    async def produce(self, topic: str, items: list[tuple[bytes | None, bytes]]) -> None:
        """Produce raw records to a fleetstream topic (full name from `topic()`)."""
        producer = AIOKafkaProducer(bootstrap_servers=self.bootstrap, acks="all")
        await producer.start()
        try:
            futures = [await producer.send(topic, key=k, value=v) for k, v in items]
            await asyncio.gather(*futures)
        finally:
            await producer.stop()

    async def consume_records(self, topic: str, expect: int, timeout: float = 30.0,
                              bootstrap: str | None = None) -> list[Any]:
        """aiokafka records of a topic from its start until `expect` arrived (or the timeout).

        `bootstrap` reads another broker than the stack's (e.g. a test's private one).
        """
        # Group-less subscription: aiokafka assigns every partition, no group is joined.
        consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap or self.bootstrap,
                                    group_id=None, enable_auto_commit=False,
                                    auto_offset_reset="earliest")
        await consumer.start()
        records: list[Any] = []
        try:
            deadline = time.monotonic() + timeout
            while len(records) < expect and time.monotonic() < deadline:
                for messages in (await consumer.getmany(timeout_ms=300)).values():
                    records.extend(messages)
        finally:
            await consumer.stop()
        return records

    async def consume_all(self, topic: str, expect: int, timeout: float = 30.0,
                          bootstrap: str | None = None) -> list[tuple[bytes | None, bytes]]:
        """(key, value) of a topic, as `consume_records`."""
        return [(r.key, r.value) for r in
                await self.consume_records(topic, expect, timeout, bootstrap)]

    async def consume_json(self, name: str, expect: int, timeout: float = 15.0,
                           bootstrap: str | None = None) -> list[dict[str, Any]]:
        """JSON values of the fleetstream topic `name` (e.g. "alerts"), as `consume_all`."""
        return [json.loads(value) for _, value in
                await self.consume_all(self.topic(name), expect, timeout, bootstrap)]

    async def pg(self, sql: str, *args: Any) -> list[asyncpg.Record]:
        conn = await asyncpg.connect(self.database_url)
        try:
            rows: list[asyncpg.Record] = await conn.fetch(sql, *args)
            return rows
        finally:
            await conn.close()

    async def rows(self, sql: str, *args: Any) -> list[asyncpg.Record]:
        """Rows of a query; none while the worker has not migrated the schema (its first write)."""
        try:
            return await self.pg(sql, *args)
        except asyncpg.exceptions.UndefinedTableError:
            return []

    def stop_workers(self) -> None:
        for worker in self.workers:
            worker.stop()

    async def delete_topics(self) -> list[str]:
        """Delete this environment's topics from the shared broker: its prefix and its app id's.

        Why: a suite leaves thousands of partitions behind otherwise, and every one of them slows
        the broker's controller (in KRaft a controller event slow enough fences the broker) and
        the metadata every later client fetches.
        """
        admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap, request_timeout_ms=30_000)
        await admin.start()
        try:
            owned = (self.prefix, f"{self.env['FLEETSTREAM_APP_ID']}-")
            mine = [topic for topic in await admin.list_topics() if topic.startswith(owned)]
            if mine:
                await admin.delete_topics(mine, timeout_ms=30_000)
            return mine
        finally:
            await admin.close()


def tsdb_export(influx_url: str, match: str) -> list[dict[str, Any]]:
    """Series from the TSDB (VictoriaMetrics `/api/v1/export`) matching a series selector."""
    query = urllib.parse.urlencode({"match[]": match})
    with urllib.request.urlopen(f"{influx_url}/api/v1/export?{query}", timeout=10) as response:
        return [json.loads(line) for line in response.read().splitlines() if line.strip()]


def base_env(stack_env: Mapping[str, str], tmp: Path) -> dict[str, str]:
    """The process environment of a test's fleetstream processes (no inherited FLEETSTREAM_*)."""
    inherited = {k: v for k, v in os.environ.items()
                 if not k.startswith("FLEETSTREAM_") and k not in stack_env}
    run_id = uuid.uuid4().hex[:10]
    # The stack's FLEETSTREAM_WEB_URL names the shared default worker port; it would win over
    # each test's own FLEETSTREAM_WEB_PORT in the query commands.
    stack = {k: v for k, v in stack_env.items() if k != "FLEETSTREAM_WEB_URL"}
    return {
        **inherited,
        **stack,
        "FLEETSTREAM_TOPIC_PREFIX": f"t{run_id}.",
        "FLEETSTREAM_APP_ID": f"fs-{run_id}",
        "FLEETSTREAM_PARTITIONS": "4",
        "FLEETSTREAM_DATA_DIR": str(tmp / "data"),
        "FLEETSTREAM_WEB_PORT": str(free_port()),
        "FLEETSTREAM_LOG_LEVEL": "info",
        "INFLUX_DB": f"db{run_id}",
        "BATCH_MAX_SEC": "0.2",
        # Tests replay fixed, old event times: keep their keys in the live tables (the
        # retention tests set their own).
        "FLEETSTREAM_RETENTION_SECONDS": "jobs=3e9,workers=3e9,nodes=3e9,vms=3e9",
    }
