"""The node and backup-job rollups: what one event adds to a pane and how a window is shown.

Why it exists: `streams.domain.windows` knows windows, not telemetry; this module is the two
domains' side of it (pure): a node's pane keeps the count, sums and maxima of CPU, memory and
the network rates; a job's pane keeps the report count and the lowest and highest job bytes its
reports carried, so a window's bytes are the growth of the job's transferred bytes between the
reports whose event time falls in it (max - min: order-independent, so a late report within
expiry lands in its window exactly). The shown fields are the rollup views' contract
(README, `GET /nodes/{id}/rollups`, `GET /jobs/{id}/rollups`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from schemas.node import NodeRates, NodeSnapshot
from streams.domain.windows import Aggregate, Rollup, WindowSpec

# A figure's pane aggregate: [sum, count, max]; count 0 (and max None) when no event had it.
Figure = list[Any]


def _figure(value: float | None) -> Figure:
    return [0.0, 0, None] if value is None else [value, 1, value]


def _merge_figure(a: Figure, b: Figure) -> Figure:
    if not b[1]:
        return a
    if not a[1]:
        return b
    return [a[0] + b[0], a[1] + b[1], max(a[2], b[2])]


def _show_figure(figure: Figure) -> dict[str, float | None]:
    total, count, most = figure
    return {"avg": total / count if count else None, "max": most}


NODE_FIGURES = {"cpu": "cpu_percent", "mem": "memory_percent",
                "rx": "network_rx_bytes_per_second", "tx": "network_tx_bytes_per_second"}


def node_sample(snapshot: NodeSnapshot, rates: NodeRates) -> Aggregate:
    """One snapshot's pane aggregate (its rates as computed when it arrived; None: unknown)."""
    return {"n": 1, "cpu": _figure(snapshot.cpu_percent), "mem": _figure(snapshot.memory_percent),
            "rx": _figure(rates.rx_bytes_per_second), "tx": _figure(rates.tx_bytes_per_second)}


def _merge_node(a: Aggregate, b: Aggregate) -> Aggregate:
    return {"n": a["n"] + b["n"], **{name: _merge_figure(a[name], b[name])
                                     for name in NODE_FIGURES}}


def _combine_node(samples: Sequence[Aggregate]) -> Aggregate:
    combined: Aggregate = {"n": sum(sample["n"] for sample in samples)}
    for name in NODE_FIGURES:
        figures = [sample[name] for sample in samples if sample[name][1]]
        combined[name] = ([sum(f[0] for f in figures), sum(f[1] for f in figures),
                           max(f[2] for f in figures)] if figures else _figure(None))
    return combined


def _show_node(spec: WindowSpec, agg: Aggregate) -> dict[str, Any]:
    return {"samples": agg["n"],
            **{shown: _show_figure(agg[name]) for name, shown in NODE_FIGURES.items()}}


def job_sample(transferred: int) -> Aggregate:
    """One report's pane aggregate: it carried the job's transferred bytes `transferred`."""
    return {"n": 1, "lo": transferred, "hi": transferred}


def _merge_job(a: Aggregate, b: Aggregate) -> Aggregate:
    return {"n": a["n"] + b["n"], "lo": min(a["lo"], b["lo"]), "hi": max(a["hi"], b["hi"])}


def _combine_job(samples: Sequence[Aggregate]) -> Aggregate:
    return {"n": sum(sample["n"] for sample in samples),
            "lo": min(sample["lo"] for sample in samples),
            "hi": max(sample["hi"] for sample in samples)}


def _show_job(spec: WindowSpec, agg: Aggregate) -> dict[str, Any]:
    transferred = agg["hi"] - agg["lo"]
    return {"reports": agg["n"], "bytes": transferred,
            "bytes_per_second": transferred / spec.size_s}


NODE = Rollup(_merge_node, _combine_node, _show_node)
JOB = Rollup(_merge_job, _combine_job, _show_job)
