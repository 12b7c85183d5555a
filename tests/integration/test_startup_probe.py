"""The worker's start-up probe against real servers: a refusal stops it, an outage does not.

A worker started with a wrong PostgreSQL password, a database that does not exist, or a TSDB
token the server refuses exits with status 2 and one line naming the sink and the cause, before
Faust starts (nothing consumed). A PostgreSQL port with nothing listening only delays it: the
worker logs `waiting for postgres`, starts, and reports the sink degraded once it has rows.
The servers that check credentials are the test's own: a PostgreSQL cluster with a
password-checked role (the stack's trusts every login) and a VictoriaMetrics with `-httpAuth.*`.
"""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest

from fleetstream.stack.services import HOST, Ports, Postgres, VictoriaMetrics
from tests.integration.helpers import (
    AppEnv,
    WorkerProcess,
    free_port,
    http,
    unique,
    wait_for,
)
from tests.integration.test_poison import backup, encoded

ROLE, PASSWORD, WRONG = "prober", "right-password", "pw-7f3e-not-it"


@pytest.fixture
def password_postgres(tmp_path: Path) -> Iterator[Postgres]:
    """A private cluster where role `prober` must give its password (scram-sha-256)."""
    postgres = Postgres(tmp_path / "password-postgres", Ports(postgres=free_port()))
    postgres.start()
    try:
        hba = postgres.data_dir / "pg_hba.conf"
        # The first matching line wins: the prober's password is checked, the rest still trusted.
        hba.write_text(f"host all {ROLE} {HOST}/32 scram-sha-256\n" + hba.read_text())
        asyncio.run(_add_role(f"postgresql://{postgres.user}@{HOST}:{postgres.port}/postgres"))
        yield postgres
    finally:
        postgres.stop()


async def _add_role(admin_url: str) -> None:
    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(f"CREATE ROLE {ROLE} LOGIN PASSWORD '{PASSWORD}'")
        await conn.execute("SELECT pg_reload_conf()")
    finally:
        await conn.close()


def refused(app_env: AppEnv, **overrides: str) -> tuple[int, str]:
    """Start a worker that is expected to stop by itself; its exit status and its output."""
    env = {**app_env.env, **overrides}
    worker = WorkerProcess(env, app_env.tmp / f"refused-{unique()}.log").start()
    assert worker.proc is not None
    try:
        code = worker.proc.wait(60)
    except subprocess.TimeoutExpired:
        worker.kill()
        raise AssertionError(f"the worker did not stop by itself:\n{worker.log()}") from None
    return code, worker.log()


def assert_refused_before_consuming(code: int, output: str, line: str) -> None:
    assert code == 2, output
    assert f"fleetstream worker: refusing to start: {line}" in output, output
    assert "[^Worker]" not in output, "Faust started before the probe refused"


async def test_a_wrong_postgres_password_stops_the_worker_at_start(
    app_env: AppEnv, password_postgres: Postgres,
) -> None:
    url = f"postgresql://{ROLE}:{{}}@{HOST}:{password_postgres.port}/{password_postgres.database}"
    # The right password is let in, so the refusal below is about the password alone.
    await (await asyncpg.connect(url.format(PASSWORD))).close()
    code, output = await asyncio.to_thread(refused, app_env, DATABASE_URL=url.format(WRONG))
    assert_refused_before_consuming(code, output, "postgres: PostgreSQL 28P01: password "
                                    f'authentication failed for user "{ROLE}"')
    assert WRONG not in output, "the password was shown"


async def test_a_missing_database_stops_the_worker_at_start(app_env: AppEnv) -> None:
    missing = unique("missing_")
    url = app_env.database_url.rsplit("/", 1)[0] + f"/{missing}"
    code, output = await asyncio.to_thread(refused, app_env, DATABASE_URL=url)
    assert_refused_before_consuming(code, output, f'postgres: PostgreSQL 3D000: database '
                                    f'"{missing}" does not exist')


async def test_a_tsdb_token_the_server_refuses_stops_the_worker_at_start(
    app_env: AppEnv, tmp_path: Path,
) -> None:
    tsdb = VictoriaMetrics(tmp_path / "auth-tsdb", Ports(tsdb=free_port()))
    tsdb.http_auth = ("fleetstream", "right-token")
    tsdb.start()
    url = f"http://{HOST}:{tsdb.port}"
    try:
        code, output = await asyncio.to_thread(
            refused, app_env, INFLUX_URL=url, INFLUX_AUTH_SCHEME="BASIC",
            INFLUX_TOKEN=f"fleetstream:{WRONG}")
        assert_refused_before_consuming(code, output, f"tsdb: TSDB HTTP 401 at {url}")
        assert WRONG not in output, "the token was shown"
        # The InfluxDB 3 clients' header (`Token ...`) is not what this server checks.
        code, output = await asyncio.to_thread(
            refused, app_env, INFLUX_URL=url, INFLUX_TOKEN="fleetstream:right-token")
        assert_refused_before_consuming(code, output, f"tsdb: TSDB HTTP 401 at {url}")
        worker = await app_env.start_worker(INFLUX_URL=url, INFLUX_AUTH_SCHEME="BASIC",
                                            INFLUX_TOKEN="fleetstream:right-token")
        assert "startup.probe sink=tsdb ok" in worker.log()
    finally:
        tsdb.stop()


async def test_a_postgres_port_with_nothing_listening_only_delays_the_worker(
    app_env: AppEnv,
) -> None:
    nowhere = f"postgresql://fleetstream@{HOST}:{free_port()}/fleetstream"
    worker = await app_env.start_worker(DATABASE_URL=nowhere)
    assert "waiting for postgres: PostgreSQL unreachable" in worker.log()
    job = unique("job-")
    await app_env.produce(app_env.topic("backup"), [(job.encode(), encoded(backup(job, seq=1)))])

    async def postgres_degraded() -> bool:
        _, health = await asyncio.to_thread(http, "GET", f"{worker.url}/health")
        return health.get("status") == "degraded" and any(
            d["sink"] == "postgres" and "unreachable" in d["reason"]
            for d in health.get("degraded", []))

    await wait_for(postgres_degraded, timeout=60, what="/health to report PostgreSQL degraded")
