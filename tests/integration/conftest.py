"""Fixtures for tests against the real local stack (Kafka, PostgreSQL, VictoriaMetrics).

`make test` brings the stack up before pytest; run alone, `stack_env` brings it up itself.
Every test under tests/integration is marked `integration` here, so `-m integration` (or
`-m "not integration"`) selects exactly the tests that need the stack, whoever wrote the module.
"""

from __future__ import annotations

import warnings
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from aiokafka.errors import KafkaError

from fleetstream.stack import Stack
from fleetstream.stack.services import Kafka, Ports
from tests.integration.helpers import (
    REPO,
    AppEnv,
    base_env,
    create_database,
    free_port,
    read_env_file,
    unique,
)

INTEGRATION = Path(__file__).resolve().parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if INTEGRATION in Path(str(item.path)).resolve().parents:
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def stack_env() -> dict[str, str]:
    stack = Stack(REPO / ".stack")
    healthy, _ = stack.status()
    if not healthy:
        stack.up()
    return read_env_file(stack.env_file)


@pytest.fixture
async def app_env(stack_env: dict[str, str], tmp_path: Path) -> AsyncIterator[AppEnv]:
    """An isolated environment: own topics, app id, database, TSDB db, data dir and web port."""
    env = base_env(stack_env, tmp_path)
    env["DATABASE_URL"] = await create_database(stack_env["DATABASE_URL"], unique("db_"))
    app = AppEnv(env, tmp_path)
    try:
        yield app
    finally:
        app.stop_workers()
        try:
            await app.delete_topics()
        except (KafkaError, OSError) as error:  # hygiene only: the test's result stands
            warnings.warn(f"could not delete the test's topics: {error!r}", stacklevel=1)


@pytest.fixture
def private_kafka(tmp_path: Path) -> Iterator[Kafka]:
    """A broker of the test's own (state dir, ports), for tests that stop and restart Kafka.

    The shared broker must never be stopped: other tests use it. Ask for it before `app_env`:
    fixtures are torn down in reverse, so the workers then stop while their broker still runs
    (stopped after it, a worker's Faust shutdown waits out its 30 s and is killed: two tests'
    teardowns took 31 s each).
    """
    kafka = Kafka(tmp_path / "private-stack", Ports(kafka=free_port(),
                                                    kafka_controller=free_port()))
    kafka.start()
    try:
        yield kafka
    finally:
        kafka.stop()
