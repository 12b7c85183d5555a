"""docker-compose.yml: the services users deploy, wired with variables the code actually reads."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from common.settings import SETTINGS, Settings

REPO = Path(__file__).resolve().parents[2]
FLEETSTREAM_SERVICES = ("worker", "node-agent")


def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    return loaded


def interpolate(value: object) -> str:
    """Resolve `${VAR:-default}` the way docker compose does when VAR is unset."""
    return re.sub(r"\$\{[A-Z_]+:-([^}]*)\}", r"\1", str(value))


def test_stack_has_kafka_kraft_postgres_influxdb3_worker_and_node_agent() -> None:
    services = compose()["services"]
    assert services["kafka"]["image"].startswith("apache/kafka:4.1")
    assert "controller" in services["kafka"]["environment"]["KAFKA_PROCESS_ROLES"]
    assert services["postgres"]["image"].startswith("postgres")
    assert services["influxdb"]["image"] == "influxdb:3-core"
    assert services["worker"]["build"] == "."
    assert services["worker"]["command"] == ["worker"]
    assert services["node-agent"]["command"] == ["node-agent"]
    assert (REPO / "Dockerfile").is_file()


def test_fleetstream_services_use_only_declared_settings_and_valid_values() -> None:
    declared = {s.env for s in SETTINGS}
    for name in FLEETSTREAM_SERVICES:
        env = {k: interpolate(v) for k, v in compose()["services"][name]["environment"].items()}
        unknown = set(env) - declared
        assert not unknown, f"{name} sets variables the code never reads: {unknown}"
        settings = Settings.load(env, dotenv=None)
        assert settings.kafka_bootstrap_servers == "kafka:9092"
        assert settings.influx_url == "http://influxdb:8181"
