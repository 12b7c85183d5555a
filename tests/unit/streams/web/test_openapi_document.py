"""The OpenAPI document: valid OpenAPI 3.1, complete (every view and method, nothing more), its
`$ref`s resolve, its request bodies accept every valid body, and the answers the views build
(the domain's summaries, folded from generated events) match its answer schemas. That a live
worker answers as it says is tests/integration/web's job."""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Iterator
from typing import Any

import schemathesis
from faust.web import View
from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator  # type: ignore[import-untyped]

import streams.web
from schemas.backup import BackupProgress
from schemas.event import epoch_micros, validate
from schemas.node import NodeRates, NodeSnapshot
from schemas.vm import VmSample
from schemas.worker import WorkerHeartbeat
from streams.domain import backup as backup_domain
from streams.domain import node as node_domain
from streams.domain import rollups, windows
from streams.domain import vm as vm_domain
from streams.domain import worker as worker_domain
from streams.web.openapi_document import document
from tests.strategies import valid_event

METHODS = ("get", "post", "put", "patch", "delete")
NOW_US = 1_900_000_000 * 1_000_000  # after every generated event time (2020..2030)


def _document(token_required: bool = True) -> dict[str, Any]:
    return document(token_required=token_required, max_body_bytes=1024,
                    static_names=["app.js", "style.css"])


def _served() -> set[tuple[str, str]]:
    """(path, method) of every view the worker registers (its modules are discovered too)."""
    served = set()
    for module in pkgutil.iter_modules(streams.web.__path__):
        namespace = vars(importlib.import_module(f"streams.web.{module.name}"))
        for item in namespace.values():
            if isinstance(item, type) and issubclass(item, View) and hasattr(item, "view_path"):
                served |= {(item.view_path, m) for m in METHODS
                           if getattr(item, m) is not getattr(View, m)}
    return served


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        if isinstance(node.get("$ref"), str):
            yield node["$ref"]
        for value in node.values():
            yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)


def test_the_document_is_valid_openapi_3_1() -> None:
    doc = _document()
    assert doc["openapi"].startswith("3.1.")
    schemathesis.openapi.from_dict(doc).validate()


def test_every_view_and_method_is_documented_and_nothing_else() -> None:
    documented = {(path, method) for path, item in _document()["paths"].items()
                  for method in item}
    assert documented == _served()


def test_every_ref_names_a_component_schema() -> None:
    doc = _document()
    names = set(doc["components"]["schemas"])
    refs = set(_refs(doc))
    assert refs, "the document reuses component schemas"
    assert {ref.removeprefix("#/components/schemas/") for ref in refs} <= names


def test_ingest_needs_the_bearer_token_only_when_the_worker_has_one() -> None:
    for token_required in (True, False):
        paths = _document(token_required)["paths"]
        for path, method in [("/api/heartbeat", "post"), ("/api/telemetry/snapshot", "post"),
                             ("/api/v1/telemetry/{job_type}/{job_id}", "post"),
                             ("/workers/{worker_id}", "delete")]:
            operation = paths[path][method]
            assert (operation["security"] == [{"bearerAuth": []}]) is token_required
            assert ("401" in operation["responses"]) is token_required


# --- the document against what the code accepts and answers ---------------------------------

def _validator(component: str) -> Draft202012Validator:
    """A validator of one component schema, resolving `#/components/...` in the document."""
    doc = _document()
    return Draft202012Validator({"$ref": f"#/components/schemas/{component}",
                                 "components": doc["components"]})


def _assert_valid(component: str, instance: Any) -> None:
    errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
              for e in _validator(component).iter_errors(instance)]
    assert not errors, (component, errors, instance)


@settings(max_examples=40)
@given(st.data())
def test_the_request_bodies_accept_what_the_endpoints_accept(data: st.DataObject) -> None:
    for component, body in [("HeartbeatBody", "heartbeat_body"), ("Seed003Body", "seed003"),
                            ("SeedApiSnapshot", "seed_api")]:
        _assert_valid(component, data.draw(valid_event(body)))


@settings(max_examples=40)
@given(st.lists(valid_event("heartbeat"), min_size=1, max_size=3))
def test_worker_answers_match_the_document(bodies: list[dict[str, Any]]) -> None:
    beats = [validate(WorkerHeartbeat, body) for body in bodies]
    result = worker_domain.apply_heartbeats(None, beats, NOW_US, 30.0)
    assert result is not None
    state, _ = result
    _assert_valid("WorkerTelemetry", worker_domain.telemetry(state))
    _assert_valid("WorkerBasic", worker_domain.basic(state))


@settings(max_examples=40)
@given(st.lists(valid_event("backup"), min_size=1, max_size=3))
def test_job_answers_match_the_document(bodies: list[dict[str, Any]]) -> None:
    events = [validate(BackupProgress, {**body, "job_id": "j"}) for body in bodies]
    job = backup_domain.apply_events(None, events)
    assert job is not None
    swept = backup_domain.sweep(job, NOW_US, 60.0, 300.0)
    for state in [job] if swept is None else [job, swept[0]]:
        _assert_valid("Job", backup_domain.summary(state))
    page = {"jobs": [backup_domain.summary(job)], "count": 1, "total": 1, "offset": 0,
            "next_offset": None}
    _assert_valid("JobPage", page)


@settings(max_examples=40)
@given(st.lists(valid_event("node"), min_size=1, max_size=3))
def test_node_answers_match_the_document(bodies: list[dict[str, Any]]) -> None:
    node: node_domain.NodeState | None = None
    for body in bodies:
        node = node_domain.advance(node, validate(NodeSnapshot, {**body, "node_id": "n"})
                                   ).state or node
        assert node is not None
        _assert_valid("NodeSnapshotView", node.view())


@settings(max_examples=40)
@given(st.lists(valid_event("vm"), min_size=1, max_size=3))
def test_vm_answers_match_the_document(bodies: list[dict[str, Any]]) -> None:
    state: dict[str, Any] | None = None
    for body in bodies:
        state = vm_domain.advance(state, validate(VmSample, body)) or state
        assert state is not None
        _assert_valid("VmSummary", vm_domain.summary(state))


@settings(max_examples=20, deadline=None)
@given(st.lists(valid_event("node"), min_size=1, max_size=3),
       st.lists(valid_event("backup"), min_size=1, max_size=3))
def test_rollup_answers_match_the_document(nodes: list[dict[str, Any]],
                                           reports: list[dict[str, Any]]) -> None:
    snapshots = [validate(NodeSnapshot, {**body, "node_id": "n"}) for body in nodes]
    node_samples = [(epoch_micros(s.ts), rollups.node_sample(s, NodeRates(None, 1.5)))
                    for s in snapshots]
    jobs = [validate(BackupProgress, {**body, "job_id": "j"}) for body in reports]
    job_samples = [(epoch_micros(r.ts), rollups.job_sample(backup_domain.event_bytes(r)))
                   for r in jobs]
    for component, key, rollup, samples in (("NodeRollups", "node_id", rollups.NODE, node_samples),
                                            ("JobRollups", "job_id", rollups.JOB, job_samples)):
        state, change = windows.fold_windows({}, None, samples, rollup)
        answer = windows.shown(rollup, change.panes, windows.watermark_of(state),
                               windows.late_dropped_of(state))
        assert answer["windows"]["tumbling_1m"]
        _assert_valid(component, {key: "k", **answer})
