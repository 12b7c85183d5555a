"""Settings: declared once, validated with one message naming every problem, shown masked."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

import pytest

from common.settings import (
    MASK,
    NODE_AGENT,
    PROCESSES,
    SETTINGS,
    WORKER,
    ConfigError,
    Settings,
    mask_url,
)


def test_every_declared_setting_is_a_field_and_back() -> None:
    assert {f.name for f in fields(Settings)} == {s.attr for s in SETTINGS}
    assert len({s.env for s in SETTINGS}) == len(SETTINGS)


def test_defaults_load_without_any_environment() -> None:
    settings = Settings.load({}, dotenv=None)
    assert settings.stale_after_seconds == 60
    assert settings.stalled_after_seconds == 300
    assert settings.worker_inactive_seconds == 30
    assert settings.web_port == 6066
    assert settings.batch_max_lines == 2000
    assert settings.topic("backup") == "telemetry.backup"


def test_one_error_names_every_bad_setting() -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.load({"FLEETSTREAM_WEB_PORT": "70000", "BATCH_MAX_LINES": "-3",
                       "POLL_INTERVAL": "soon", "FLEETSTREAM_LOG_LEVEL": "loud"}, dotenv=None)
    message = str(caught.value)
    for name in ("FLEETSTREAM_WEB_PORT", "BATCH_MAX_LINES", "POLL_INTERVAL",
                 "FLEETSTREAM_LOG_LEVEL"):
        assert name in message
    assert len(caught.value.problems) == 4


def test_invalid_secret_is_not_echoed_in_the_error() -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.load({"FLEETSTREAM_TOPIC_PREFIX": "bad prefix!",
                       "FLEETSTREAM_INGEST_TOKEN": "s3cret"}, dotenv=None)
    assert "s3cret" not in str(caught.value)


def test_stalled_threshold_must_exceed_stale_threshold() -> None:
    with pytest.raises(ConfigError, match="STALLED_AFTER"):
        Settings.load({"FLEETSTREAM_STALE_AFTER_SECONDS": "10",
                       "FLEETSTREAM_STALLED_AFTER_SECONDS": "5"}, dotenv=None)


def test_masked_hides_tokens_and_url_passwords() -> None:
    settings = Settings.load({
        "INFLUX_TOKEN": "apiv3_secret",
        "FLEETSTREAM_INGEST_TOKEN": "ingest-secret",
        "DATABASE_URL": "postgresql://app:pw123@db:5432/fleet",
        "LIBVIRT_URI": "qemu+ssh://oneadmin:hunter2@192.168.0.104/system",
    }, dotenv=None)
    shown = settings.masked()
    text = "\n".join(f"{k}={v}" for k, v in shown.items())
    for secret in ("apiv3_secret", "ingest-secret", "pw123", "hunter2"):
        assert secret not in text
    assert shown["INFLUX_TOKEN"] == MASK
    assert shown["DATABASE_URL"] == f"postgresql://app:{MASK}@db:5432/fleet"
    assert shown["LIBVIRT_URI"] == f"qemu+ssh://oneadmin:{MASK}@192.168.0.104/system"


def test_secrets_in_url_query_strings_are_masked_in_every_url_setting() -> None:
    settings = Settings.load({
        "INFLUX_URL": "http://influx:8181/?token=tok-in-query&db=vm",
        "DATABASE_URL": "postgresql://app@db/fleet?sslmode=require&password=pw-in-query",
        "LIBVIRT_URI": "qemu+ssh://root@kvm/system?keyfile=/etc/k&auth_token=at-1",
    }, dotenv=None)
    shown = settings.masked()
    assert "tok-in-query" not in str(shown) and "pw-in-query" not in str(shown)
    assert "at-1" not in str(shown)
    assert shown["INFLUX_URL"] == f"http://influx:8181/?token={MASK}&db=vm"
    assert shown["DATABASE_URL"] == f"postgresql://app@db/fleet?sslmode=require&password={MASK}"
    assert shown["LIBVIRT_URI"] == f"qemu+ssh://root@kvm/system?keyfile=/etc/k&auth_token={MASK}"


def test_masking_keeps_an_empty_authority() -> None:
    assert mask_url("test:///default?password=x") == f"test:///default?password={MASK}"
    assert mask_url("test:///tmp/node.xml") == "test:///tmp/node.xml"


def test_url_without_password_is_shown_as_is() -> None:
    assert mask_url("postgresql://fleetstream@127.0.0.1:55432/db") == \
        "postgresql://fleetstream@127.0.0.1:55432/db"


def test_dotenv_is_read_and_environment_wins(tmp_path: Path) -> None:
    dotenv = tmp_path / ".env"
    dotenv.write_text("# local overrides\nexport FLEETSTREAM_WEB_PORT=7000\n"
                      "INFLUX_DB='metrics'\nBATCH_MAX_SEC=2.5\n")
    settings = Settings.load({"BATCH_MAX_SEC": "0.5"}, dotenv=dotenv)
    assert settings.web_port == 7000
    assert settings.influx_db == "metrics"
    assert settings.batch_max_sec == 0.5


def test_a_process_reads_and_shows_only_its_own_section() -> None:
    environ = {"DATABASE_URL": "", "FLEETSTREAM_NODE_INTERVAL": "5", "POLL_INTERVAL": "-1"}
    node = Settings.load(environ, dotenv=None, process=NODE_AGENT)
    assert node.node_interval == 5.0
    shown = node.masked(NODE_AGENT)
    assert "DATABASE_URL" not in shown and "POLL_INTERVAL" not in shown
    assert "KAFKA_BOOTSTRAP_SERVERS" in shown and "FLEETSTREAM_OUTBOX_MAX_EVENTS" in shown
    with pytest.raises(ConfigError) as caught:
        Settings.load(environ, dotenv=None, process=WORKER)
    assert "DATABASE_URL" in str(caught.value) and "POLL_INTERVAL" not in str(caught.value)


def test_every_setting_belongs_to_a_known_process() -> None:
    for setting in SETTINGS:
        assert setting.used_by and setting.used_by <= PROCESSES, setting.env


def test_sasl_protocol_needs_username_and_password() -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.load({"KAFKA_SECURITY_PROTOCOL": "sasl_ssl"}, dotenv=None)
    assert "KAFKA_SASL_USERNAME is required" in str(caught.value)
    assert "KAFKA_SASL_PASSWORD is required" in str(caught.value)


def test_kafka_tls_files_must_exist_and_need_a_tls_protocol(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    with pytest.raises(ConfigError) as caught:
        Settings.load({"KAFKA_SECURITY_PROTOCOL": "SSL", "KAFKA_SSL_CAFILE": str(ca),
                       "KAFKA_SSL_CERTFILE": str(tmp_path / "missing.pem")}, dotenv=None)
    assert caught.value.problems == [
        f"KAFKA_SSL_CERTFILE={str(tmp_path / 'missing.pem')!r} is not a readable file"]
    with pytest.raises(ConfigError, match="uses no TLS"):
        Settings.load({"KAFKA_SSL_CAFILE": str(ca)}, dotenv=None)
    settings = Settings.load({"KAFKA_SECURITY_PROTOCOL": "SSL", "KAFKA_SSL_CAFILE": str(ca)},
                             dotenv=None)
    assert settings.kafka_ssl_cafile == ca and settings.kafka_ssl_certfile is None


def test_unknown_kafka_protocol_and_mechanism_are_named() -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.load({"KAFKA_SECURITY_PROTOCOL": "TLS", "KAFKA_SASL_MECHANISM": "GSSAPI"},
                      dotenv=None)
    assert len(caught.value.problems) == 2


def test_sasl_password_is_masked() -> None:
    settings = Settings.load({"KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
                              "KAFKA_SASL_USERNAME": "agent", "KAFKA_SASL_PASSWORD": "pa55"},
                             dotenv=None)
    assert settings.masked(NODE_AGENT)["KAFKA_SASL_PASSWORD"] == MASK
    assert settings.masked(NODE_AGENT)["KAFKA_SASL_USERNAME"] == "agent"


@pytest.mark.parametrize("environ", [
    {},
    {"FLEETSTREAM_WEB_HOST": "localhost"},
    {"FLEETSTREAM_WEB_HOST": "10.0.0.5", "FLEETSTREAM_WEB_BIND": "::1"},
    {"FLEETSTREAM_WEB_BIND": "0.0.0.0", "FLEETSTREAM_INGEST_TOKEN": "t0ken"},
    {"FLEETSTREAM_WEB_BIND": "0.0.0.0", "FLEETSTREAM_ALLOW_ANONYMOUS_INGEST": "true"},
])
def test_a_worker_on_loopback_or_with_a_token_may_start(environ: dict[str, str]) -> None:
    assert Settings.load(environ, dotenv=None).problems_for(WORKER) == []


@pytest.mark.parametrize("environ", [
    {"FLEETSTREAM_WEB_BIND": "0.0.0.0"},
    {"FLEETSTREAM_WEB_HOST": "worker-1.example"},
    {"FLEETSTREAM_WEB_HOST": "192.168.1.20", "FLEETSTREAM_ALLOW_ANONYMOUS_INGEST": "no"},
])
def test_a_worker_open_to_the_network_without_a_token_refuses_to_start(
    environ: dict[str, str],
) -> None:
    problems = Settings.load(environ, dotenv=None).problems_for(WORKER)
    assert len(problems) == 1
    assert "FLEETSTREAM_INGEST_TOKEN" in problems[0]
    assert "FLEETSTREAM_ALLOW_ANONYMOUS_INGEST=true" in problems[0]


def test_anonymous_ingest_check_applies_to_the_worker_only() -> None:
    settings = Settings.load({"FLEETSTREAM_WEB_BIND": "0.0.0.0"}, dotenv=None)
    assert settings.problems_for(NODE_AGENT) == []
