"""How every fleetstream process connects to Kafka: bootstrap servers and security, from `Settings`.

Why it exists: the publisher, the Faust app, the live WebSocket feeds and `fleetstream replay` all
build Kafka clients; each must speak the same protocol (PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL)
with the same credentials. This module turns the `KAFKA_*` settings into aiokafka client keyword
arguments and into `faust.App` keyword arguments, in one place.

It also tells a refused login apart from an unreachable broker. aiokafka's bootstrap logs a
failed SASL handshake and then raises the same `KafkaConnectionError` as for a broker that is down,
so a client with a wrong password would retry forever. `check_credentials()` opens one connection
itself and raises `KafkaCredentialsError`, which callers treat as permanent. It relies on
`aiokafka.conn.create_conn`, which is not aiokafka's public API: the integration test
`tests/integration/stack/test_kafka_secure.py` fails when that changes.

What it must not do: read the environment, or create topics.
"""

from __future__ import annotations

import asyncio
import ssl
from typing import Any

from aiokafka.conn import create_conn
from aiokafka.errors import (
    AuthenticationFailedError,
    KafkaConnectionError,
    SaslAuthenticationFailed,
    UnsupportedSaslMechanismError,
)
from aiokafka.helpers import create_ssl_context

from common.settings import Settings

__all__ = [
    "KafkaCredentialsError",
    "bootstrap_servers",
    "check_credentials",
    "client_kwargs",
    "faust_kwargs",
]


class KafkaCredentialsError(RuntimeError):
    """The broker refused this client's login or TLS handshake: a configuration error, permanent.

    Not a `KafkaError` on purpose: loops that retry Kafka errors must not retry this one.
    """


def bootstrap_servers(settings: Settings) -> list[str]:
    """`KAFKA_BOOTSTRAP_SERVERS` as a list of host:port."""
    return [server.strip() for server in settings.kafka_bootstrap_servers.split(",")
            if server.strip()]


def ssl_context(settings: Settings) -> ssl.SSLContext | None:
    """The TLS context of the SSL and SASL_SSL protocols (None for the others)."""
    if not settings.kafka_security_protocol.endswith("SSL"):
        return None
    context: ssl.SSLContext = create_ssl_context(
        cafile=settings.kafka_ssl_cafile,
        certfile=settings.kafka_ssl_certfile,
        keyfile=settings.kafka_ssl_keyfile,
    )
    return context


def client_kwargs(settings: Settings) -> dict[str, Any]:
    """Keyword arguments for any aiokafka client: servers, protocol, TLS context, SASL login."""
    kwargs: dict[str, Any] = {
        "bootstrap_servers": bootstrap_servers(settings),
        "security_protocol": settings.kafka_security_protocol,
    }
    context = ssl_context(settings)
    if context is not None:
        kwargs["ssl_context"] = context
    if settings.kafka_security_protocol.startswith("SASL_"):
        kwargs["sasl_mechanism"] = settings.kafka_sasl_mechanism
        kwargs["sasl_plain_username"] = settings.kafka_sasl_username
        kwargs["sasl_plain_password"] = settings.kafka_sasl_password
    return kwargs


def faust_kwargs(settings: Settings) -> dict[str, Any]:
    """Keyword arguments for `faust.App`: the broker URL and, when secured, its credentials."""
    # Imported here: producers use this module too and must not pay for importing Faust.
    import faust

    broker = ";".join(f"kafka://{server}" for server in bootstrap_servers(settings))
    kwargs: dict[str, Any] = {"broker": broker}
    protocol = settings.kafka_security_protocol
    context = ssl_context(settings)
    if protocol.startswith("SASL_"):
        kwargs["broker_credentials"] = faust.SASLCredentials(
            username=settings.kafka_sasl_username,
            password=settings.kafka_sasl_password,
            mechanism=settings.kafka_sasl_mechanism,
            ssl_context=context,
        )
    elif context is not None:
        kwargs["broker_credentials"] = faust.SSLCredentials(context)
    return kwargs


async def check_credentials(settings: Settings, timeout: float = 10.0) -> None:
    """Raise `KafkaCredentialsError` when a broker refuses this client's TLS or SASL login.

    Tries the bootstrap servers in turn and returns at the first that accepts the login. A broker
    that cannot be reached is not a verdict on the credentials: when none can be reached this
    returns too, and the caller's own retries handle the outage.
    """
    kwargs = client_kwargs(settings)
    if kwargs["security_protocol"] == "PLAINTEXT":
        return
    for server in kwargs.pop("bootstrap_servers"):
        host, _, port = server.rpartition(":")
        try:
            conn = await asyncio.wait_for(
                create_conn(host, int(port), request_timeout_ms=int(timeout * 1000), **kwargs),
                timeout,
            )
        except (SaslAuthenticationFailed, AuthenticationFailedError,
                UnsupportedSaslMechanismError) as exc:
            raise KafkaCredentialsError(
                f"Kafka broker {server} refused the {settings.kafka_sasl_mechanism} login of "
                f"KAFKA_SASL_USERNAME={settings.kafka_sasl_username!r}: {exc}; check "
                "KAFKA_SASL_USERNAME, KAFKA_SASL_PASSWORD and KAFKA_SASL_MECHANISM"
            ) from exc
        except ssl.SSLError as exc:
            raise KafkaCredentialsError(
                f"TLS handshake with Kafka broker {server} failed: {exc.reason or exc}; check "
                "KAFKA_SSL_CAFILE (the CA that signed the broker's certificate) and "
                "KAFKA_SECURITY_PROTOCOL"
            ) from exc
        except (OSError, KafkaConnectionError, TimeoutError):
            continue
        conn.close()
        return
