"""The TSDB sink's credentials: which `Authorization` header each INFLUX_AUTH_SCHEME sends."""

from __future__ import annotations

import base64

import pytest

from common.settings import ConfigError, Settings
from streams.sinks.influx import authorization


def settings(**env: str) -> Settings:
    return Settings.load(env, dotenv=None, process="worker")


def test_the_default_is_the_influxdb3_clients_token_header() -> None:
    assert authorization(settings(INFLUX_TOKEN="apiv3_abc")) == ("Token", "apiv3_abc")


def test_bearer_sends_the_token_as_a_bearer_token() -> None:
    assert authorization(settings(INFLUX_TOKEN="t", INFLUX_AUTH_SCHEME="bearer")) == ("Bearer",
                                                                                       "t")


def test_basic_sends_user_and_password_as_http_basic_auth() -> None:
    scheme, credentials = authorization(settings(INFLUX_TOKEN="alice:s3:cret",
                                                 INFLUX_AUTH_SCHEME="Basic"))
    assert scheme == "Basic"
    assert base64.b64decode(credentials) == b"alice:s3:cret"


def test_basic_without_a_user_and_password_is_refused_at_start() -> None:
    with pytest.raises(ConfigError) as refused:
        settings(INFLUX_TOKEN="just-a-token", INFLUX_AUTH_SCHEME="BASIC")
    assert any("INFLUX_TOKEN must be USER:PASSWORD" in p for p in refused.value.problems)


def test_an_unknown_scheme_is_refused_at_start() -> None:
    with pytest.raises(ConfigError) as refused:
        settings(INFLUX_AUTH_SCHEME="Digest")
    assert any(p.startswith("INFLUX_AUTH_SCHEME='Digest' is invalid") for p in
               refused.value.problems)
