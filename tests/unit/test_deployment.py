"""docker-compose.yml and the Dockerfile: a deployment a user can trust, checked one by one.

The file is rendered by Debian's `docker-compose config` (interpolation and schema validation as
compose does them; it needs no Docker engine), then each promise is checked: data on volumes,
Kafka reachable from other hosts, the node agent seeing the host, every service restarted and
health-checked, the ingest token required, and only variables the code reads.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
import tomllib
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from common.env_example import COMPOSE_VARIABLES
from common.settings import SETTINGS, Settings

REPO = Path(__file__).resolve().parents[2]
FLEETSTREAM_SERVICES = ("worker", "node-agent", "vm-agent")
PROFILES = ("--profile", "vm", "--profile", "influxdb")
TOKEN = "compose-test-token"


def compose_file() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    return loaded


def docker_compose(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """`docker-compose` on the repository's file, with only `env` as the user's variables."""
    binary = shutil.which("docker-compose")
    assert binary, "docker-compose is missing: apt-get install docker-compose (make system-deps)"
    clean = {k: v for k, v in os.environ.items() if k in {"PATH", "HOME", "LANG"}}
    with tempfile.TemporaryDirectory() as empty:
        # An empty env file: a developer's own .env in the repository must not leak in.
        env_file = Path(empty) / ".env"
        env_file.touch()
        return subprocess.run(
            [binary, "--project-directory", str(REPO), "-f", str(REPO / "docker-compose.yml"),
             "--env-file", str(env_file), *args],
            env={**clean, **env}, capture_output=True, text=True, timeout=60, check=False)


@cache
def rendered() -> dict[str, Any]:
    result = docker_compose(*PROFILES, "config", FLEETSTREAM_INGEST_TOKEN=TOKEN)
    assert result.returncode == 0, result.stderr
    loaded: dict[str, Any] = yaml.safe_load(result.stdout)
    return loaded


def services() -> dict[str, Any]:
    found: dict[str, Any] = rendered()["services"]
    return found


def volume_targets(service: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """target -> {source, type, read_only} of a rendered service's `source:target[:mode]` list."""
    mounts = {}
    for entry in service.get("volumes", []):
        source, target, *mode = entry.split(":")
        mounts[target] = {"source": source, "type": "bind" if source.startswith("/") else "volume",
                          "read_only": "ro" in ",".join(mode).split(",")}
    return mounts


def test_compose_renders_and_has_the_whole_stack() -> None:
    assert set(services()) == {
        "kafka", "postgres", "victoriametrics", "influxdb", "worker", "node-agent", "vm-agent",
        "prometheus", "alertmanager", "grafana"}
    assert services()["kafka"]["image"].startswith("apache/kafka:4.1")
    assert "controller" in services()["kafka"]["environment"]["KAFKA_PROCESS_ROLES"]
    assert services()["influxdb"]["image"] == "influxdb:3-core"


def test_the_ingest_token_is_required() -> None:
    result = docker_compose("config", "-q")
    assert result.returncode != 0
    assert "set an ingest token" in result.stderr
    for name in FLEETSTREAM_SERVICES:
        assert services()[name]["environment"]["FLEETSTREAM_INGEST_TOKEN"] == TOKEN


def test_every_service_restarts_and_is_health_checked() -> None:
    for name, service in services().items():
        assert service.get("restart") == "unless-stopped", name
        test = service.get("healthcheck", {}).get("test")
        assert test and test[0] in {"CMD", "CMD-SHELL"}, f"{name} has no health check"


def test_kafka_keeps_its_log_dirs_on_the_named_volume() -> None:
    kafka = services()["kafka"]
    log_dirs = kafka["environment"]["KAFKA_LOG_DIRS"]
    volume = volume_targets(kafka)[log_dirs]
    assert volume["type"] == "volume"
    assert volume["source"] in rendered()["volumes"]


def test_kafka_advertises_an_external_listener_on_its_published_port() -> None:
    raw = compose_file()["services"]["kafka"]["environment"]["KAFKA_ADVERTISED_LISTENERS"]
    assert "EXTERNAL://${KAFKA_EXTERNAL_HOST:-localhost}:" in raw
    kafka = services()["kafka"]
    advertised = dict(entry.split("://") for entry in
                      kafka["environment"]["KAFKA_ADVERTISED_LISTENERS"].split(","))
    listeners = dict(entry.split("://") for entry in
                     kafka["environment"]["KAFKA_LISTENERS"].split(","))
    external_port = int(listeners["EXTERNAL"].rsplit(":", 1)[1])
    published = {int(port["target"]): int(port["published"]) for port in kafka["ports"]}
    assert advertised["EXTERNAL"] == f"localhost:{published[external_port]}"
    assert "EXTERNAL:PLAINTEXT" in kafka["environment"]["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"]
    moved = docker_compose("config", FLEETSTREAM_INGEST_TOKEN=TOKEN,
                           KAFKA_EXTERNAL_HOST="kafka.example.net", KAFKA_EXTERNAL_PORT="19094")
    assert "EXTERNAL://kafka.example.net:19094" in moved.stdout
    assert "published: 19094" in moved.stdout


def test_node_agent_sees_the_host_like_node_exporter() -> None:
    agent = services()["node-agent"]
    assert agent["pid"] == "host"
    assert agent["network_mode"] == "host"
    raw_volumes = compose_file()["services"]["node-agent"]["volumes"]
    assert "/:/host:ro,rslave" in raw_volumes
    assert volume_targets(agent)["/host"]["read_only"] is True
    # On the host network the compose name `kafka` does not resolve: the published listener.
    published = services()["kafka"]["ports"][0]["published"]
    assert agent["environment"]["KAFKA_BOOTSTRAP_SERVERS"] == f"127.0.0.1:{published}"


def test_workers_scale_by_replicas_and_each_announces_its_own_address() -> None:
    worker = services()["worker"]
    assert worker["deploy"]["replicas"] == 2
    assert "FLEETSTREAM_WEB_HOST" not in worker["environment"]
    assert "hostname -i" in " ".join(worker["entrypoint"])
    assert worker["environment"]["FLEETSTREAM_WEB_BIND"] == "0.0.0.0"
    port_range = worker["ports"][0]["published"]
    assert re.fullmatch(r"\d+-\d+", str(port_range)), "replicas need one host port each"
    scaled = docker_compose("config", FLEETSTREAM_INGEST_TOKEN=TOKEN, FLEETSTREAM_WORKERS="4")
    assert "replicas: 4" in scaled.stdout


def test_monitoring_services_mount_the_shipped_configs() -> None:
    expected = {
        "prometheus": {"/etc/prometheus": REPO / "deploy" / "prometheus"},
        "alertmanager": {"/etc/alertmanager": REPO / "deploy" / "alertmanager"},
        "grafana": {"/etc/grafana/provisioning": REPO / "deploy" / "grafana" / "provisioning",
                    "/var/lib/grafana/dashboards/fleetstream.json":
                        REPO / "deploy" / "grafana" / "fleetstream.json"},
    }
    for name, mounts in expected.items():
        targets = volume_targets(services()[name])
        for target, source in mounts.items():
            assert Path(targets[target]["source"]) == source, (name, target)
            assert targets[target]["read_only"] is True
            assert source.exists(), source
    command = " ".join(services()["prometheus"]["command"])
    assert "--config.file=/etc/prometheus/prometheus.yml" in command
    assert (REPO / "deploy" / "prometheus" / "prometheus.yml").is_file()


def test_fleetstream_services_use_only_declared_settings_and_valid_values() -> None:
    declared = {s.env for s in SETTINGS}
    for name in FLEETSTREAM_SERVICES:
        env = {k: str(v) for k, v in services()[name]["environment"].items()}
        unknown = set(env) - declared
        assert not unknown, f"{name} sets variables the code never reads: {unknown}"
        Settings.load(env, dotenv=None, process=name)
    worker = Settings.load({k: str(v) for k, v in services()["worker"]["environment"].items()},
                           dotenv=None, process="worker")
    assert worker.ingest_token == TOKEN
    assert worker.kafka_bootstrap_servers == "kafka:9092"
    assert worker.influx_url == "http://victoriametrics:8428"


def test_every_compose_variable_is_documented_in_env_example() -> None:
    used = set(re.findall(r"\$\{([A-Z0-9_]+)", (REPO / "docker-compose.yml").read_text()))
    documented = {s.env for s in SETTINGS} | {name for name, _, _ in COMPOSE_VARIABLES}
    undocumented = used - documented
    assert not undocumented, f"add {undocumented} to common/env_example.py COMPOSE_VARIABLES"
    assert {name for name, _, _ in COMPOSE_VARIABLES} <= used, "documented but unused"


def test_image_copies_every_package_pyproject_installs() -> None:
    # Regression: common/ was added to the packages but not to the image, which then failed
    # to start any command.
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    packages = {p.rstrip("*") for p in pyproject["tool"]["setuptools"]["packages"]["find"]
                ["include"]}
    copied = set(re.findall(r"^COPY (\w+) \./\1$", (REPO / "Dockerfile").read_text(), re.M))
    assert packages <= copied, f"Dockerfile does not COPY {packages - copied}"
