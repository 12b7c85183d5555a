"""Kafka client configuration: one set of settings, the same protocol for aiokafka and Faust."""

from __future__ import annotations

import ssl

import faust

from common import kafka
from common.settings import Settings


def test_plaintext_is_the_default_and_carries_no_credentials() -> None:
    settings = Settings.load({"KAFKA_BOOTSTRAP_SERVERS": "a:9092, b:9092"}, dotenv=None)
    assert kafka.client_kwargs(settings) == {
        "bootstrap_servers": ["a:9092", "b:9092"], "security_protocol": "PLAINTEXT"}
    assert kafka.faust_kwargs(settings) == {"broker": "kafka://a:9092;kafka://b:9092"}


def test_sasl_ssl_gives_aiokafka_a_tls_context_and_the_login() -> None:
    settings = Settings.load({"KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
                              "KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
                              "KAFKA_SASL_USERNAME": "agent", "KAFKA_SASL_PASSWORD": "pw"},
                             dotenv=None)
    kwargs = kafka.client_kwargs(settings)
    assert isinstance(kwargs.pop("ssl_context"), ssl.SSLContext)
    assert kwargs == {"bootstrap_servers": ["127.0.0.1:9092"], "security_protocol": "SASL_SSL",
                      "sasl_mechanism": "SCRAM-SHA-512", "sasl_plain_username": "agent",
                      "sasl_plain_password": "pw"}


def test_faust_gets_the_same_protocol_mechanism_and_login() -> None:
    settings = Settings.load({"KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
                              "KAFKA_SASL_MECHANISM": "SCRAM-SHA-256",
                              "KAFKA_SASL_USERNAME": "agent", "KAFKA_SASL_PASSWORD": "pw"},
                             dotenv=None)
    credentials = kafka.faust_kwargs(settings)["broker_credentials"]
    assert isinstance(credentials, faust.SASLCredentials)
    assert credentials.protocol.value == "SASL_SSL"
    assert credentials.mechanism.value == "SCRAM-SHA-256"
    assert (credentials.username, credentials.password) == ("agent", "pw")


def test_sasl_plaintext_has_no_tls_context() -> None:
    settings = Settings.load({"KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
                              "KAFKA_SASL_USERNAME": "agent", "KAFKA_SASL_PASSWORD": "pw"},
                             dotenv=None)
    assert "ssl_context" not in kafka.client_kwargs(settings)
    credentials = kafka.faust_kwargs(settings)["broker_credentials"]
    assert credentials.protocol.value == "SASL_PLAINTEXT" and credentials.mechanism.value == "PLAIN"


def test_ssl_alone_gives_faust_ssl_credentials() -> None:
    settings = Settings.load({"KAFKA_SECURITY_PROTOCOL": "SSL"}, dotenv=None)
    assert isinstance(kafka.faust_kwargs(settings)["broker_credentials"], faust.SSLCredentials)
    assert kafka.client_kwargs(settings)["security_protocol"] == "SSL"

