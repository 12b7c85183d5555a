"""Every PromQL expression of the Grafana dashboard, ready to send to Prometheus or the TSDB.

Why it exists: the dashboard JSON is the contract between the metrics the code exports and what an
operator sees. Tests read its queries from here: the unit tests check them offline (syntax,
metric names); an integration test can run each `runnable` expression against the stack's
Prometheus (`datasource == PROMETHEUS`) or TSDB (`datasource == TSDB`) and expect an answer.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[3]
DASHBOARD = REPO / "deploy" / "grafana" / "fleetstream.json"
PROMETHEUS = "fleetstream-prometheus"
TSDB = "fleetstream-tsdb"

PROMQL_KEYWORDS = frozenset({"and", "or", "unless", "on", "ignoring", "group_left", "group_right",
                             "bool", "offset"})
HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")

# What Grafana substitutes before it sends a query; a range that holds several scrapes.
GRAFANA_VARIABLES = {"$__rate_interval": "1m", "$__interval": "1m", "$__range": "1h"}


@dataclass(frozen=True)
class PanelQuery:
    """One query of one panel: where it is sent, and its PromQL as written in the dashboard."""

    panel: str
    datasource: str
    expr: str

    @property
    def runnable(self) -> str:
        """The expression as Grafana sends it with every template variable set to "All"."""
        expr = self.expr
        for name, value in GRAFANA_VARIABLES.items():
            expr = expr.replace(name, value)
        return re.sub(r"\$\{?(\w+)\}?", ".*", expr)


def dashboard(path: Path = DASHBOARD) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(path.read_text())
    return loaded


def panels(path: Path = DASHBOARD) -> list[dict[str, Any]]:
    """The dashboard's panels (not its rows), including any inside collapsed rows."""
    found = []
    for panel in dashboard(path)["panels"]:
        if panel["type"] == "row":
            found.extend(panel.get("panels", []))
        else:
            found.append(panel)
    return found


def queries(path: Path = DASHBOARD) -> list[PanelQuery]:
    """Every query of every panel, in dashboard order."""
    return [PanelQuery(panel["title"], (target.get("datasource") or panel["datasource"])["uid"],
                       target["expr"])
            for panel in panels(path) for target in panel["targets"]]


def metric_names(expr: str) -> set[str]:
    """Metric names an expression selects (a histogram's series reduced to the histogram)."""
    bare = re.sub(r"\b(?:by|without)\s*\([^)]*\)", " ", expr)
    bare = re.sub(r"\{[^}]*\}|\[[^\]]*\]", " ", bare)
    names = set()
    for match in re.finditer(r"[a-zA-Z_:][a-zA-Z0-9_:]*", bare):
        if bare[match.end():].lstrip().startswith("(") or match.group() in PROMQL_KEYWORDS:
            continue  # a function or an operator
        name = match.group()
        for suffix in HISTOGRAM_SUFFIXES:
            name = name.removesuffix(suffix)
        names.add(name)
    return names
