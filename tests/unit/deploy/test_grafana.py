"""The provisioned Grafana dashboard: every panel queries a provisioned datasource, in valid PromQL,
for metrics that the workers, agents and projections actually produce.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import yaml

from schemas.node import DiskUsage, NodeRates, NodeSnapshot
from streams.domain import vm as vm_domain
from streams.projections import node as node_projection
from tests.unit.deploy.dashboard import (
    PROMETHEUS,
    REPO,
    TSDB,
    dashboard,
    metric_names,
    panels,
    queries,
)
from tests.unit.deploy.test_prometheus_rules import AGENT_METRICS, WORKER_METRICS

PROVISIONING = REPO / "deploy" / "grafana" / "provisioning"


def test_every_panel_has_a_datasource_and_an_expression() -> None:
    found = panels()
    assert len(found) >= 30
    for panel in found:
        assert panel["datasource"]["uid"] in {PROMETHEUS, TSDB}, panel["title"]
        assert panel["targets"], f"{panel['title']} has no query"
        for target in panel["targets"]:
            assert target["expr"].strip(), panel["title"]
            assert target["datasource"] == panel["datasource"], panel["title"]


def test_panels_use_only_provisioned_datasources() -> None:
    provisioned = yaml.safe_load((PROVISIONING / "datasources" / "fleetstream.yml").read_text())
    uids = {source["uid"]: source for source in provisioned["datasources"]}
    assert {query.datasource for query in queries()} == set(uids) == {PROMETHEUS, TSDB}
    assert all(source["type"] == "prometheus" for source in uids.values())
    for variable in dashboard()["templating"]["list"]:
        assert variable["datasource"]["uid"] in uids, variable["name"]


def test_dashboard_provider_loads_the_file_compose_mounts() -> None:
    provider = yaml.safe_load((PROVISIONING / "dashboards" / "fleetstream.yml").read_text())
    assert provider["providers"][0]["options"]["path"] == "/var/lib/grafana/dashboards"
    assert dashboard()["uid"] == "fleetstream"


def test_panels_do_not_overlap() -> None:
    taken: dict[tuple[int, int], str] = {}
    for panel in dashboard()["panels"]:
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24, panel["title"]
        for x in range(grid["x"], grid["x"] + grid["w"]):
            for y in range(grid["y"], grid["y"] + grid["h"]):
                assert (x, y) not in taken, f"{panel['title']} overlaps {taken[(x, y)]}"
                taken[(x, y)] = panel["title"]


def test_pipeline_panels_read_the_metrics_the_worker_and_agents_export() -> None:
    exported = WORKER_METRICS | AGENT_METRICS
    used = set().union(*(metric_names(q.expr) for q in queries() if q.datasource == PROMETHEUS))
    assert used - {"up"} <= exported, used - exported
    assert exported <= used, f"no panel shows {exported - used}"


def test_fleet_panels_read_fields_the_projections_write() -> None:
    snapshot = NodeSnapshot.model_validate({
        "event_id": "00000000-0000-0000-0000-000000000001", "source": "t",
        "ts": "2025-12-17T10:00:00Z", "node_id": "n", "cpu_percent": 1, "memory_percent": 1,
        "disks": [DiskUsage(mount="/", used_bytes=1, total_bytes=2, percent=50)]})
    node_fields = node_projection.fields(snapshot, NodeRates(1.0, 1.0))
    written = {f"node_{field}" for field in node_fields}
    written |= {f"vm_{field}" for field in (vm_domain.CPU_PERCENT, *vm_domain.VM_RATES.values())}
    written |= {f"vm_nic_{field}" for field in vm_domain.NIC_RATES.values()}
    written |= {f"vm_disk_{field}" for field in vm_domain.DISK_RATES.values()}
    for query in queries():
        if query.datasource != TSDB:
            continue
        for name in metric_names(query.expr):
            if name.startswith(("node_", "vm_")):
                assert name in written, f"{query.panel}: nothing writes {name}"
            else:
                assert name.startswith(("backup_job_", "worker_")), f"{query.panel}: {name}"


def test_every_expression_is_valid_promql(tmp_path: Path) -> None:
    promtool = shutil.which("promtool")
    assert promtool, "promtool is missing: apt-get install prometheus (make system-deps does)"
    rules = {"groups": [{"name": "dashboard", "rules": [
        {"record": f"dashboard:query_{index}", "expr": query.runnable}
        for index, query in enumerate(queries())]}]}
    path = tmp_path / "dashboard.rules.yml"
    path.write_text(yaml.safe_dump(rules))
    result = subprocess.run([promtool, "check", "rules", str(path)], capture_output=True,
                            text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
