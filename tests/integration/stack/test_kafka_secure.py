"""Kafka over SASL_SSL: agents and workers connect with the KAFKA_* security settings.

Runs against the tests' own stack (`own_stack`, SASL_SSL listener on). It also pins the aiokafka
internal `common.kafka.check_credentials` relies on (`aiokafka.conn.create_conn` raising the
broker's SASL error): the wrong-password tests fail when that changes.
"""

from __future__ import annotations

import asyncio
import logging
import subprocess
import uuid
from collections.abc import AsyncIterator
from dataclasses import fields
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from faust.transport.drivers.aiokafka import credentials_to_aiokafka_auth

from common import kafka
from common.settings import Settings
from fleetstream.stack import Stack
from fleetstream.stack.services import Kafka, Ports
from producers.publisher import Publisher, PublisherError
from tests.integration.helpers import (
    FLEETSTREAM,
    AppEnv,
    ahttp,
    base_env,
    create_database,
    free_port,
    unique,
    wait_for,
)


def secure_settings(stack: Stack, data_dir: Path, **overrides: str) -> Settings:
    return Settings.load({**stack.kafka.secure_env(), "FLEETSTREAM_DATA_DIR": str(data_dir),
                          **overrides}, dotenv=None)


@pytest.fixture
async def secure_topic(own_stack: Stack, tmp_path: Path) -> AsyncIterator[str]:
    topic = f"secure.{uuid.uuid4().hex[:10]}"
    admin = AIOKafkaAdminClient(**kafka.client_kwargs(secure_settings(own_stack, tmp_path)))
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, num_partitions=2, replication_factor=1)])
        yield topic
    finally:
        await admin.delete_topics([topic])
        await admin.close()


@pytest.mark.parametrize("mechanism", ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"])
async def test_publisher_over_sasl_ssl_reaches_a_consumer_with_faust_credentials(
    own_stack: Stack, secure_topic: str, tmp_path: Path, mechanism: str,
) -> None:
    settings = secure_settings(own_stack, tmp_path, KAFKA_SASL_MECHANISM=mechanism)
    sent = [(f"node-{i % 3}".encode(), orjson.dumps({"seq": i})) for i in range(20)]
    publisher = Publisher("secure-test", settings)
    await publisher.start()
    try:
        await publisher.publish_many([(secure_topic, k, v) for k, v in sent])
        assert await publisher.flush(30), await publisher.stats()
    finally:
        await publisher.stop()

    # The consumer gets exactly what the Faust app is given, translated the way Faust's
    # aiokafka driver translates it.
    faust_auth = credentials_to_aiokafka_auth(kafka.faust_kwargs(settings)["broker_credentials"])
    assert faust_auth["security_protocol"] == "SASL_SSL"
    assert faust_auth["sasl_mechanism"] == mechanism
    consumer = AIOKafkaConsumer(secure_topic, bootstrap_servers=kafka.bootstrap_servers(settings),
                                group_id=None, auto_offset_reset="earliest", **faust_auth)
    await consumer.start()
    try:
        received: list[tuple[bytes, bytes]] = []

        async def everything() -> bool:
            for records in (await consumer.getmany(timeout_ms=500)).values():
                received.extend((r.key, r.value) for r in records
                                if r.key is not None and r.value is not None)
            return len(received) >= len(sent)

        await wait_for(everything, 30, 0, what="the published events over SASL_SSL")
    finally:
        await consumer.stop()
    assert sorted(received, key=lambda kv: orjson.loads(kv[1])["seq"]) == sent


async def test_a_wrong_password_ends_delivery_with_one_clear_error(
    own_stack: Stack, secure_topic: str, tmp_path: Path, caplog: pytest.LogCaptureFixture,
) -> None:
    wrong = "not-the-password"
    settings = secure_settings(own_stack, tmp_path, KAFKA_SASL_PASSWORD=wrong)
    publisher = Publisher("secure-wrong", settings)
    caplog.set_level(logging.INFO, logger="producers.publisher")
    await publisher.start()
    try:
        await publisher.publish(secure_topic, b"k", b"v")

        async def refused() -> BaseException | None:
            try:
                await publisher.publish(secure_topic, b"k", b"v")
            except PublisherError as exc:
                return exc
            await asyncio.sleep(0.5)
            return None

        error = await wait_for(refused, 30, 0, what="the publisher to give up on the login")
    finally:
        await publisher.stop()
    assert error is not None
    cause = error.__cause__
    assert isinstance(cause, kafka.KafkaCredentialsError)
    assert "refused the SCRAM-SHA-256 login of KAFKA_SASL_USERNAME='fleetstream'" in str(cause)
    assert wrong not in str(cause)
    errors = [r for r in caplog.records
              if r.name == "producers.publisher" and r.levelno >= logging.ERROR]
    assert len(errors) == 1, [r.getMessage() for r in errors]
    retries = [r for r in caplog.records if "retry" in r.getMessage()]
    assert retries == [], "a refused login must not be retried"


def test_a_worker_with_a_wrong_password_exits_with_one_message(
    own_stack: Stack, tmp_path: Path,
) -> None:
    env = {**base_env(own_stack.env(), tmp_path), **own_stack.kafka.secure_env(),
           "KAFKA_SASL_PASSWORD": "not-the-password"}
    result = subprocess.run([FLEETSTREAM, "worker"], env=env, cwd=tmp_path, capture_output=True,
                            text=True, timeout=60, check=False)
    assert result.returncode == 2, result.stderr[-3000:]
    ours = [line for line in result.stderr.splitlines() if line.startswith("fleetstream worker:")]
    assert len(ours) == 1, result.stderr[-3000:]
    assert "refused the SCRAM-SHA-256 login" in ours[0]
    assert "not-the-password" not in result.stderr


def start_emitter(env: dict[str, str], tmp: Path, worker_id: str) -> subprocess.Popen[bytes]:
    log = (tmp / "emitter.log").open("ab")
    return subprocess.Popen([FLEETSTREAM, "heartbeat", "--worker-id", worker_id, "--interval", "1"],
                            env=env, cwd=tmp, stdout=log, stderr=subprocess.STDOUT)


async def test_heartbeats_over_sasl_ssl_reach_a_worker_over_sasl_ssl(
    own_stack: Stack, tmp_path: Path,
) -> None:
    stack_env = own_stack.env()
    env = {**base_env(stack_env, tmp_path), **own_stack.kafka.secure_env()}
    env["DATABASE_URL"] = await create_database(stack_env["DATABASE_URL"], unique("db_"))
    app = AppEnv(env, tmp_path)
    worker_id = f"secure-box-{uuid.uuid4().hex[:6]}"
    emitter: subprocess.Popen[bytes] | None = None
    try:
        worker = await app.start_worker()
        emitter = start_emitter(env, tmp_path, worker_id)

        async def seen() -> dict[str, Any] | None:
            status, body = await ahttp("GET", f"{worker.url}/telemetry/{worker_id}")
            return body if status == 200 else None

        telemetry = await wait_for(seen, 60, 0.5, what="the heartbeat in the worker's view")
        assert telemetry is not None
        assert telemetry["worker_id"] == worker_id and telemetry["is_active"]
    finally:
        if emitter is not None:
            emitter.terminate()
            emitter.wait(20)
        app.stop_workers()


async def test_regression_storage_formatted_without_scram_user_gets_it_at_secure_start(
    tmp_path: Path,
) -> None:
    # Stacks formatted before the SCRAM user existed (the shared one) must still work --secure.
    ports = Ports(**{f.name: free_port() for f in fields(Ports)})
    plain = Kafka(tmp_path, ports)
    plain.prepare()
    (tmp_path / "kafka" / "scram-user.created").unlink()
    # A new password: only the admin-API path can have made the broker know it.
    (tmp_path / "kafka" / "sasl.password").write_text("rotated-password\n")
    secure = Kafka(tmp_path, ports, secure=True)
    try:
        assert secure.start()
        settings = Settings.load({**secure.secure_env(), "FLEETSTREAM_DATA_DIR": str(tmp_path)},
                                 dotenv=None)
        await kafka.check_credentials(settings)
        wrong = Settings.load({**secure.secure_env(), "KAFKA_SASL_PASSWORD": "old"}, dotenv=None)
        with pytest.raises(kafka.KafkaCredentialsError):
            await kafka.check_credentials(wrong)
    finally:
        secure.stop()
