"""Agent metrics (producers.metrics): the exact names, per-process registries, outbox gauges."""

from __future__ import annotations

import time
from dataclasses import dataclass

from prometheus_client.parser import text_string_to_metric_families

from producers.metrics import AgentMetrics


@dataclass
class Figures:
    depth: int = 0
    bytes: int = 0
    dropped: int = 0
    oldest_enqueued_at: float | None = None


def samples(text: bytes) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text.decode())
            for s in family.samples}


async def test_two_agents_in_one_process_report_their_own_figures() -> None:
    node_outbox = Figures(depth=3, bytes=900, dropped=7, oldest_enqueued_at=time.time() - 12)
    vm_outbox = Figures()

    async def node_stats() -> Figures:
        return node_outbox

    async def vm_stats() -> Figures:
        return vm_outbox

    node = AgentMetrics("node-agent", "node-agent", node_stats)
    vm = AgentMetrics("vm-agent", "vm-agent", vm_stats)
    node.published(1, time.time() - 0.2)
    node.published(1, time.time())
    node.collection_failed()
    vm.published(500, time.time())

    body, content_type = await node.exposition()
    assert content_type.startswith("text/plain")
    got = samples(body)
    agent, outbox = (("agent", "node-agent"),), (("outbox", "node-agent"),)
    assert got[("fleetstream_agent_snapshots_total", agent)] == 2
    assert got[("fleetstream_agent_collection_errors_total", agent)] == 1
    assert got[("fleetstream_agent_publish_seconds_count", agent)] == 2
    assert 0.2 <= got[("fleetstream_agent_publish_seconds_sum", agent)] < 5
    assert got[("fleetstream_outbox_events", outbox)] == 3
    assert got[("fleetstream_outbox_bytes", outbox)] == 900
    assert got[("fleetstream_outbox_dropped_total", outbox)] == 7
    assert 12 <= got[("fleetstream_outbox_oldest_age_seconds", outbox)] < 20

    vm_got = samples((await vm.exposition())[0])
    assert vm_got[("fleetstream_agent_snapshots_total", (("agent", "vm-agent"),))] == 500
    assert vm_got[("fleetstream_outbox_oldest_age_seconds", (("outbox", "vm-agent"),))] == 0
    assert not any(labels == agent for _, labels in vm_got)  # registries are not shared


async def test_outbox_gauges_follow_the_outbox_at_each_scrape() -> None:
    figures = Figures(depth=5)

    async def stats() -> Figures:
        return figures

    metrics = AgentMetrics("a", "o", stats)
    assert samples((await metrics.exposition())[0])[
        ("fleetstream_outbox_events", (("outbox", "o"),))] == 5
    figures.depth = 0
    assert samples((await metrics.exposition())[0])[
        ("fleetstream_outbox_events", (("outbox", "o"),))] == 0
