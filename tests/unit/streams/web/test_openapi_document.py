"""The OpenAPI document: valid OpenAPI 3.1, complete (every view and method, nothing more), and
its `$ref`s resolve. That the worker answers as it says is tests/integration/web's job."""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Iterator
from typing import Any

import schemathesis
from faust.web import View

import streams.web
from streams.web.openapi_document import document

METHODS = ("get", "post", "put", "patch", "delete")


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
