"""Fixtures of the fault suite: the isolated environment of tests/integration, private servers.

The fault tests kill, stop and restart servers, so anything they stop is their own: a private
broker (the `private_kafka` fixture of tests/integration), a private PostgreSQL, a private TSDB.
The shared stack is never stopped; a network partition is made in a namespace of the test's
own (`partition_netns`). Every test here is marked `faults` and `integration` (it needs the stack);
FLEETSTREAM_FAULTS_LONG=1 (`make faults`) selects the long variants.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from fleetstream.stack.services import Ports, Postgres
from tests.faults.netns import NetnsUnavailable, Partition
from tests.integration.conftest import app_env, private_kafka, stack_env
from tests.integration.helpers import AppEnv, base_env, free_port

__all__ = ["app_env", "partition_netns", "private_app_env", "private_kafka", "private_postgres",
           "stack_env"]

FAULTS = Path(__file__).resolve().parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if FAULTS in Path(str(item.path)).resolve().parents:
            item.add_marker(pytest.mark.faults)
            item.add_marker(pytest.mark.integration)


@pytest.fixture
def private_postgres(tmp_path: Path) -> Iterator[Postgres]:
    """A PostgreSQL cluster of the test's own (state dir, port), for tests that stop it."""
    postgres = Postgres(tmp_path / "private-postgres", Ports(postgres=free_port()))
    postgres.start()
    try:
        yield postgres
    finally:
        postgres.stop()


@pytest.fixture
async def private_app_env(stack_env: dict[str, str], tmp_path: Path,
                          private_postgres: Postgres) -> AsyncIterator[AppEnv]:
    """An isolated environment on the shared broker and TSDB whose database is private."""
    env = {**base_env(stack_env, tmp_path), **private_postgres.env()}
    app = AppEnv(env, tmp_path)
    try:
        yield app
    finally:
        app.stop_workers()


@pytest.fixture
def partition_netns() -> Iterator[Partition]:
    """A network namespace and veth pair of the test's own, removed afterwards (skipped with
    the reason where `ip netns` or veth pairs are not permitted)."""
    try:
        made = Partition.create()
    except NetnsUnavailable as exc:
        pytest.skip(f"no network namespace for the partition test: {exc}")
    try:
        yield made
    finally:
        made.close()
