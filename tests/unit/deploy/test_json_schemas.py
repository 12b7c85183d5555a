"""schemas/json/: the committed JSON Schemas match the models, and say what the workers accept.

Other-language producers validate against these files, so they must never drift from the
pydantic models (regenerate with `make schemas`), and a standard JSON Schema validator must
accept the events Python produces and reject what the workers reject.
"""

from __future__ import annotations

import importlib
import json
import pkgutil
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jsonschema
import pytest

import schemas
from fleetstream.cli import main
from fleetstream.commands.schemas import EVENTS, SUFFIX, documents, export, models
from schemas.event import Event, decode

REPO = Path(__file__).resolve().parents[3]
COMMITTED = REPO / "schemas" / "json"
REGENERATE = "run `make schemas` (fleetstream schemas export schemas/json) and commit the result"

NOW = datetime(2025, 12, 17, 10, 0, tzinfo=UTC)
ENVELOPE = {"event_id": str(uuid.UUID(int=7)), "source": "test", "ts": NOW.isoformat()}
VALID: dict[str, dict[str, Any]] = {
    "node.snapshot.v1": {**ENVELOPE, "schema": "node.snapshot/1", "node_id": "n1",
                         "cpu_percent": 12.5, "memory_percent": 40.0,
                         "disks": [{"mount": "/", "used_bytes": 10, "total_bytes": 100,
                                    "percent": 10.0}],
                         "network_rx_bytes": 1234},
    "vm.sample.v1": {**ENVELOPE, "schema": "vm.sample/1", "host": "h1",
                     "vm_uuid": str(uuid.UUID(int=9)), "vm_name": "web", "state": "running",
                     "cpu_time_ns": 10**12, "vcpus": 2,
                     "nics": [{"name": "vnet0", "rx_bytes": 1, "rx_packets": 1, "rx_errs": 0,
                               "rx_drop": 0, "tx_bytes": 2, "tx_packets": 2, "tx_errs": 0,
                               "tx_drop": 0}]},
    "backup.progress.v1": {**ENVELOPE, "schema": "backup.progress/1", "job_id": "j1",
                           "job_type": "backup", "status": "running",
                           "current_phase": "transferring", "seq": 3,
                           "disks": [{"disk_index": 0, "bytes_transferred": 30}]},
    "worker.heartbeat.v1": {**ENVELOPE, "schema": "worker.heartbeat/1", "worker_id": "w1",
                            "cpu_usage": 50.0, "memory_usage": 20.0,
                            "running_tasks": [{"task_id": "t1", "progress_percent": 5.0}]},
    "seed000.api-snapshot": {"node_id": "n1", "cpu_percent": 50, "memory_percent": 60,
                             "timestamp": "2025-12-17T10:00:00Z"},
}
# One field out of the bounds the workers enforce, per model.
INVALID: dict[str, tuple[str, Any]] = {
    "node.snapshot.v1": ("cpu_percent", 140.0),
    "vm.sample.v1": ("state", "exploded"),
    "backup.progress.v1": ("job_type", "snapshot"),
    "worker.heartbeat.v1": ("memory_usage", -1.0),
    "seed000.api-snapshot": ("node_id", ""),
}


def committed_schema(stem: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((COMMITTED / (stem + SUFFIX)).read_text())
    return loaded


def test_committed_schemas_match_the_models(tmp_path: Path) -> None:
    export(tmp_path)
    fresh = {path.name: path.read_text() for path in tmp_path.iterdir()}
    committed = {path.name: path.read_text() for path in COMMITTED.glob("*" + SUFFIX)}
    assert set(committed) == set(fresh), (
        f"schemas/json/ has other files than the models: {REGENERATE}")
    drifted = sorted(name for name in fresh if fresh[name] != committed[name])
    assert not drifted, f"schemas/json/{drifted} differ from the models: {REGENERATE}"


def test_every_event_model_is_exported() -> None:
    for module in pkgutil.walk_packages(schemas.__path__, "schemas."):
        importlib.import_module(module.name)
    pending, found = list(Event.__subclasses__()), set()
    while pending:
        cls = pending.pop()
        found.add(cls)
        pending.extend(cls.__subclasses__())
    missing = found - set(EVENTS)
    assert not missing, f"add {missing} to fleetstream.commands.schemas.EVENTS, then make schemas"


@pytest.mark.parametrize("stem", sorted(VALID))
def test_a_json_schema_validator_accepts_what_the_workers_accept(stem: str) -> None:
    body = VALID[stem]
    decode(models()[stem], json.dumps(body))
    jsonschema.Draft202012Validator(committed_schema(stem)).validate(body)


@pytest.mark.parametrize("stem", sorted(INVALID))
def test_a_json_schema_validator_rejects_what_the_workers_reject(stem: str) -> None:
    field, value = INVALID[stem]
    body = {**VALID[stem], field: value}
    with pytest.raises(ValueError, match=field):
        decode(models()[stem], json.dumps(body))
    errors = list(jsonschema.Draft202012Validator(committed_schema(stem)).iter_errors(body))
    assert {tuple(error.path) for error in errors} == {(field,)}


def test_event_schemas_pin_their_schema_name() -> None:
    for event in EVENTS:
        stem = event.SCHEMA.replace("/", ".v")
        assert committed_schema(stem)["properties"]["schema"]["const"] == event.SCHEMA


def test_export_command_is_deterministic_and_removes_only_its_stale_files(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "old.v0.schema.json").write_text("{}")
    (tmp_path / "README.md").write_text("mine")
    assert main(["schemas", "export", str(tmp_path)]) == 0
    first = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    assert main(["schemas", "export", str(tmp_path)]) == 0
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == first
    assert "old.v0.schema.json" not in first
    assert first["README.md"] == b"mine"
    assert set(first) - {"README.md"} == set(documents())
    assert all(text.endswith(b"}\n") for name, text in first.items() if name != "README.md")
    assert str(tmp_path / "node.snapshot.v1.schema.json") in capsys.readouterr().out
