"""`make demo`'s Prometheus targets: each /metrics endpoint it starts, where its process listens."""

from __future__ import annotations

from fleetstream import demo

STACK_ENV = {"KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:9092",
             "PROMETHEUS_URL": "http://127.0.0.1:59090"}


def test_the_worker_and_both_agents_are_targets_at_their_default_ports() -> None:
    assert demo.scrape_targets(STACK_ENV) == [
        ("fleetstream-worker", "demo-worker", "127.0.0.1:6066"),
        ("fleetstream-agent", "demo-node-agent", "127.0.0.1:8756"),
        ("fleetstream-agent", "demo-vm-agent", "127.0.0.1:8765"),
    ]


def test_targets_follow_the_ports_and_addresses_the_processes_are_configured_with() -> None:
    env = {**STACK_ENV, "FLEETSTREAM_WEB_PORT": "7001", "FLEETSTREAM_WEB_HOST": "10.0.0.5",
           "FLEETSTREAM_NODE_WS_PORT": "7002", "FLEETSTREAM_NODE_WS_BIND": "0.0.0.0",
           "FLEETSTREAM_VM_AGENT_PORT": "7003"}
    assert demo.scrape_targets(env) == [
        ("fleetstream-worker", "demo-worker", "10.0.0.5:7001"),
        # Bound to every address: scraped on loopback.
        ("fleetstream-agent", "demo-node-agent", "127.0.0.1:7002"),
        ("fleetstream-agent", "demo-vm-agent", "127.0.0.1:7003"),
    ]


def test_a_node_agent_without_its_http_port_is_not_a_target() -> None:
    names = [name for _, name, _ in demo.scrape_targets({**STACK_ENV,
                                                        "FLEETSTREAM_NODE_WS_PORT": "0"})]
    assert names == ["demo-worker", "demo-vm-agent"]
