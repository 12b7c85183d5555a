"""`fleetstream schemas export DIR`: the JSON Schema of every event and seed body, one file each.

`fleetstream schemas env-example` prints `.env.example` (see `common.env_example`); both are the
generated contracts `make schemas` refreshes.

Why it exists: producers and consumers in other languages validate against the same contract the
Python code enforces. The schemas are generated from the pydantic models (validation mode: what a
worker or ingest endpoint accepts), never written by hand, and committed under `schemas/json/`;
`make schemas` regenerates them and a unit test fails when the committed files drift.

Output is deterministic (sorted keys, two-space indent, trailing newline), so a regeneration
without a model change is no diff. Files this command wrote before for models that no longer
exist are removed; nothing else in DIR is touched.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from common import env_example
from schemas.adapters.node import SeedApiSnapshot, SeedWsMessage
from schemas.alert import Alert
from schemas.backup import BackupProgress
from schemas.deadletter import DeadLetter
from schemas.event import Event
from schemas.node import NodeSnapshot
from schemas.vm import VmSample
from schemas.worker import WorkerForget, WorkerHeartbeat

SUFFIX = ".schema.json"
DRAFT = "https://json-schema.org/draft/2020-12/schema"

EVENTS: tuple[type[Event], ...] = (NodeSnapshot, VmSample, BackupProgress, WorkerHeartbeat,
                                   WorkerForget)
"""The envelope-carrying events of the telemetry topics; each file is named after its `schema`."""

RECORDS: dict[str, type[BaseModel]] = {
    "alert": Alert,
    "deadletter": DeadLetter,
    # Seed 000's bodies, kept as contracts for clients of the original node daemon.
    "seed000.api-snapshot": SeedApiSnapshot,
    "seed000.ws-message": SeedWsMessage,
}
"""Other records on the wire (alerts, dead letters) and the seed bodies adapters accept, by file."""


def event_file_stem(event: type[Event]) -> str:
    """`node.snapshot/1` -> `node.snapshot.v1`: the schema name with a filename-safe version."""
    name, version = event.SCHEMA.split("/")
    return f"{name}.v{version}"


def models() -> dict[str, type[BaseModel]]:
    """Every exported model by file stem."""
    return {**{event_file_stem(event): event for event in EVENTS}, **RECORDS}


def render(model: type[BaseModel]) -> str:
    """One model's JSON Schema document, deterministically formatted."""
    document: dict[str, Any] = {"$schema": DRAFT,
                                **model.model_json_schema(mode="validation", by_alias=True)}
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def documents() -> dict[str, str]:
    """File name -> JSON Schema text, for every exported model."""
    return {stem + SUFFIX: render(model) for stem, model in sorted(models().items())}


def export(directory: Path) -> list[Path]:
    """Write every schema into `directory` (created if missing); returns the files written."""
    directory.mkdir(parents=True, exist_ok=True)
    wanted = documents()
    for stale in directory.glob("*" + SUFFIX):
        if stale.name not in wanted:
            stale.unlink()
    written = []
    for name, text in wanted.items():
        path = directory / name
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("schemas", help="JSON Schema of the events and seed bodies")
    actions = parser.add_subparsers(dest="schemas_action", metavar="ACTION", required=True)
    export_parser = actions.add_parser(
        "export", help="write one JSON Schema file per event and seed body into DIR")
    export_parser.add_argument("directory", metavar="DIR", type=Path)
    export_parser.set_defaults(run=run_export)
    example = actions.add_parser(
        "env-example", help="print .env.example: every setting with its default and meaning")
    example.set_defaults(run=run_env_example)


def run_export(args: argparse.Namespace) -> int:
    for path in export(args.directory):
        print(path)
    return 0


def run_env_example(args: argparse.Namespace) -> int:
    print(env_example.render(), end="")
    return 0
