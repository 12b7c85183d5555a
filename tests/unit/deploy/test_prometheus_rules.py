"""The alerting rules: every rule is unit-tested firing and not firing, and promtool accepts them.

`make rules` runs promtool in the lint stage; this test also fails when a new rule is added
without a promtool case for each outcome, and runs the cases themselves.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[3]
PROMETHEUS = REPO / "deploy" / "prometheus"
WORKER_METRICS = {
    "fleetstream_events_consumed_total", "fleetstream_deadletters_total",
    "fleetstream_batch_size", "fleetstream_fold_seconds", "fleetstream_sink_write_seconds",
    "fleetstream_sink_retries_total", "fleetstream_sink_degraded", "fleetstream_consumer_lag",
    "fleetstream_table_keys", "fleetstream_alerts_open", "fleetstream_partition_rereads_total",
}
AGENT_METRICS = {
    "fleetstream_agent_snapshots_total", "fleetstream_agent_publish_seconds",
    "fleetstream_outbox_events", "fleetstream_outbox_bytes",
    "fleetstream_outbox_oldest_age_seconds", "fleetstream_outbox_dropped_total",
    "fleetstream_agent_collection_errors_total",
}


def load(name: str) -> Any:
    return yaml.safe_load((PROMETHEUS / name).read_text())


def rules() -> list[dict[str, Any]]:
    return [rule for group in load("fleetstream.rules.yml")["groups"] for rule in group["rules"]]


def promtool() -> str:
    path = shutil.which("promtool")
    assert path, "promtool is missing: apt-get install prometheus (make system-deps does)"
    return path


def test_every_rule_has_a_firing_and_a_quiet_promtool_case() -> None:
    cases = [case for test in load("fleetstream.rules.test.yml")["tests"]
             for case in test["alert_rule_test"]]
    for rule in rules():
        outcomes = {bool(case["exp_alerts"]) for case in cases
                    if case["alertname"] == rule["alert"]}
        assert outcomes == {True, False}, (
            f"{rule['alert']} needs a promtool case where it fires and one where it does not "
            f"(deploy/prometheus/fleetstream.rules.test.yml)")


def test_every_rule_tells_the_operator_what_happened_and_what_to_do() -> None:
    for rule in rules():
        assert rule["labels"]["severity"] in {"warning", "critical"}, rule["alert"]
        assert rule["annotations"]["summary"].strip(), rule["alert"]
        assert len(rule["annotations"]["description"]) > 80, rule["alert"]


def test_rules_use_only_the_metrics_the_worker_and_agents_export() -> None:
    exported = WORKER_METRICS | AGENT_METRICS | {"up"}
    for rule in rules():
        used = {word for word in _identifiers(rule["expr"]) if word.startswith("fleetstream_")}
        assert used <= exported, f"{rule['alert']} uses unknown metrics {used - exported}"


def _identifiers(expr: str) -> set[str]:
    return set(re.findall(r"[a-zA-Z_:][a-zA-Z0-9_:]*", expr))


def test_promtool_checks_the_rules_config_and_runs_the_cases() -> None:
    for args in (["check", "rules", "fleetstream.rules.yml"],
                 ["check", "config", "prometheus.yml"],
                 ["test", "rules", "fleetstream.rules.test.yml"]):
        result = subprocess.run([promtool(), *args], cwd=PROMETHEUS, capture_output=True,
                                text=True, timeout=60, check=False)
        assert result.returncode == 0, f"promtool {' '.join(args)}:\n{result.stdout}{result.stderr}"


def test_prometheus_scrapes_workers_and_agents_under_the_rules_job_names() -> None:
    config = load("prometheus.yml")
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert jobs["fleetstream-worker"]["dns_sd_configs"][0]["names"] == ["worker"]
    agent_targets = {target for group in jobs["fleetstream-agent"]["static_configs"]
                     for target in group["targets"]}
    assert agent_targets == {"host.docker.internal:8756", "vm-agent:8765"}
    assert config["rule_files"] == ["fleetstream.rules.yml"]
    assert config["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"] == [
        "alertmanager:9093"]
