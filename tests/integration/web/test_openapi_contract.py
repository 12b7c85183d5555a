"""A live worker answers every request as its `GET /openapi.json` says: schemathesis fuzzes it.

Every operation of the document gets valid (positive) and invalid (negative) requests generated
from the document itself: hostile path and query parameters, bodies of every shape. Each answer
must not be a 5xx, and its status code, content type and JSON body must be ones the document
declares for that operation; invalid requests must be refused. The worker runs with an ingest
token, and the tables hold a worker, a node, a job and a VM first, so the list and per-key views
answer with items, not just `{}`.

Two runs: the Python API's fuzzing (counted per operation, with the refusal check), then the CLI's
coverage phase (boundary and type-edge values of every parameter and property) and stateful
phase (chains of calls), with the conformance checks only: pydantic's lax mode takes a few
values the JSON Schema calls wrong ("1.5" or true for a number, unix seconds for a time), so
the refusal check would fail there on a leniency, not a bug.
"""

from __future__ import annotations

import asyncio
import re
import secrets
import subprocess
import sys
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Err
from schemathesis.errors import FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

from schemas.vm import VmSample
from tests.integration.helpers import AppEnv, ahttp, wait_for

SCHEMATHESIS_CLI = str(Path(sys.executable).parent / "st")

EXAMPLES_PER_OPERATION = 50
"""Per operation and generation mode: 19 operations, 12 of them with inputs to make invalid,
x 50 cases stays under ~3 minutes."""
MAX_BODY_BYTES = 3000
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance]
NEGATIVE_CHECKS = [*CHECKS, negative_data_rejection]
"""Invalid requests must also be refused, not taken..."""
REFUSALS = ["400", "401", "404", "405", "413", "422"]
"""...with one of the refusals the views give (schemathesis's default list lacks 413, which a
body over the limit gets before it is even parsed)."""


# Hand-picked cases, each with the status it must get (and the document's conformance): the
# seeded keys (random ids never meet them) and the bugs found while writing the document.
EXPLICIT: list[tuple[str, str, dict[str, Any], int]] = [
    ("GET", "/telemetry/{worker_id}", {"path_parameters": {"worker_id": "contract-worker"}}, 200),
    ("GET", "/nodes/{node_id}", {"path_parameters": {"node_id": "contract-node"}}, 200),
    ("GET", "/jobs/{job_id}", {"path_parameters": {"job_id": "contract-job"}}, 200),
    ("GET", "/jobs", {"query": {"status": "running", "staleness": "fresh", "limit": "1"}}, 200),
    ("GET", "/jobs", {"query": {"scope": "local"}}, 200),
    ("GET", "/nodes", {"query": {"scope": "local"}}, 200),
    # Regression: an offset beyond 64 bits was echoed into the answer, whose encoding raised: 500.
    ("GET", "/jobs", {"query": {"offset": "1" + "0" * 26}}, 400),
    # Regression: a misspelt filter answered an empty page, a misspelt scope the gathered whole.
    ("GET", "/jobs", {"query": {"status": "runing"}}, 400),
    ("GET", "/jobs", {"query": {"staleness": "old"}}, 400),
    ("GET", "/workers", {"query": {"scope": "locale"}}, 400),
    ("GET", "/jobs/{job_id}", {"path_parameters": {"job_id": "\x00"}}, 404),
    ("DELETE", "/workers/{worker_id}", {"path_parameters": {"worker_id": "\x00"}}, 422),
    ("POST", "/api/heartbeat", {"body": {"worker_id": "w", "cpu_usage": 1, "memory_usage": 1,
                                         "running_tasks": [{"task_id": "t" * 200}] * 20}}, 413),
]


def explicit_cases(schema_url: str, token: str) -> int:
    """Run `EXPLICIT`; returns how many ran (blocking: run in a thread)."""
    schema = schemathesis.openapi.from_url(schema_url)
    for method, path, fields, expected in EXPLICIT:
        case = schema[path][method].Case(**fields)
        response = case.call_and_validate(headers={"Authorization": f"Bearer {token}"},
                                          checks=CHECKS, timeout=20)
        assert response.status_code == expected, (method, path, fields, response.text[:300])
    return len(EXPLICIT)


@dataclass
class Report:
    """Cases sent and the failures found, per operation."""

    cases: int = 0
    per_operation: dict[str, int] = field(default_factory=dict)
    statuses: dict[str, Counter[int]] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)


def fuzz(schema_url: str, token: str) -> Report:
    """Run every operation's generated cases against the worker (blocking: run in a thread)."""
    config = schemathesis.Config.from_dict(
        {"checks": {"negative_data_rejection": {"expected-statuses": REFUSALS}}})
    schema = schemathesis.openapi.from_url(schema_url, config=config)
    auth = {"Authorization": f"Bearer {token}"}
    report = Report()
    for result in schema.get_all_operations():
        if isinstance(result, Err):
            raise AssertionError(f"the document has an invalid operation: {result.err()}")
        operation = result.ok()
        _fuzz_operation(operation, GenerationMode.POSITIVE, CHECKS, auth, report)
        declared = schema.raw_schema["paths"][operation.path][operation.method]
        # An operation without parameters or body has nothing to make invalid.
        if declared.get("parameters") or declared.get("requestBody"):
            _fuzz_operation(operation, GenerationMode.NEGATIVE, NEGATIVE_CHECKS, auth, report)
    return report


def _fuzz_operation(operation: Any, mode: GenerationMode, checks: list[Any],
                    auth: dict[str, str], report: Report) -> None:
    label = f"{operation.method.upper()} {operation.path} ({mode.value})"

    @settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, database=None,
              derandomize=True, phases=[Phase.explicit, Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(case=operation.as_strategy(generation_mode=mode))
    def run(case: Any) -> None:
        report.cases += 1
        report.per_operation[label] = report.per_operation.get(label, 0) + 1
        try:
            response = case.call_and_validate(headers=auth, checks=checks, timeout=20)
            report.statuses.setdefault(label, Counter())[response.status_code] += 1
        except (FailureGroup, AssertionError) as exc:  # one failure is an AssertionError
            if len(report.failures) < 30:
                report.failures.append(f"{label}: {exc}\n  {case.as_curl_command()}")

    run()


def cli_phases(schema_url: str, token: str, cwd: Path) -> tuple[int, str]:
    """The CLI's coverage and stateful phases: (cases generated, its output); fails on any
    failure (blocking: run in a thread)."""
    checks = ",".join(check.__name__ for check in CHECKS)
    run = subprocess.run(
        [SCHEMATHESIS_CLI, "--no-color", "run", schema_url, "--phases", "coverage,stateful",
         "--checks", checks, "--max-examples", str(EXAMPLES_PER_OPERATION), "--seed", "1",
         "--generation-database", "none", "--workers", "1", "--request-timeout", "20",
         "--header", f"Authorization: Bearer {token}"],
        capture_output=True, text=True, cwd=cwd, timeout=300, check=False)
    output = run.stdout + run.stderr
    assert run.returncode == 0, output[-8000:]
    generated = re.search(r"(\d+) generated", output)
    assert generated is not None, output[-3000:]
    return int(generated.group(1)), output


async def _seed(app_env: AppEnv, url: str, token: str) -> None:
    """One item in each table, through the real ingest endpoints (and the VM topic)."""
    auth = {"Authorization": f"Bearer {token}"}
    now = datetime.now(UTC).isoformat()
    for path, body in [
        ("/api/heartbeat", {"worker_id": "contract-worker", "cpu_usage": 12.5,
                            "memory_usage": 40.0, "running_tasks": [{"task_id": "t1"}]}),
        ("/api/telemetry/snapshot", {"node_id": "contract-node", "cpu_percent": 5.0,
                                     "memory_percent": 30.0, "network_rx_bytes": 10}),
        ("/api/v1/telemetry/backup/contract-job", {
            "timestamp": now, "status": "running", "current_phase": "copy",
            "disks": [{"disk_index": 0, "bytes_transferred": 10, "total_bytes": 100}]}),
    ]:
        status, answer = await ahttp("POST", url + path, body, headers=auth)
        assert status in (200, 202), (path, status, answer)
    sample = VmSample(event_id=uuid.uuid4(), source="contract-test", ts=datetime.now(UTC),
                      host="h1", vm_uuid=uuid.uuid4(), vm_name="vm1", state="running",
                      cpu_time_ns=1000, vcpus=2)
    await app_env.produce(app_env.topic("vm"), [(str(sample.vm_uuid).encode(), sample.encode())])

    async def every_table_holds_an_item() -> bool:
        answers = [await ahttp("GET", url + path) for path in ("/workers", "/nodes", "/jobs",
                                                                 "/vms")]
        workers, nodes, jobs, vms = (body for _, body in answers)
        return bool(workers) and bool(nodes["nodes"]) and bool(jobs["jobs"]) and bool(vms["vms"])

    await wait_for(every_table_holds_an_item, 60, what="one item in every table")


async def test_a_live_worker_answers_every_operation_as_its_openapi_document_says(
    app_env: AppEnv,
) -> None:
    token = secrets.token_hex(16)
    # A small body limit, so that generated bodies also meet the 413.
    worker = await app_env.start_worker(FLEETSTREAM_INGEST_TOKEN=token,
                                        FLEETSTREAM_MAX_BODY_BYTES=str(MAX_BODY_BYTES))
    await _seed(app_env, worker.url, token)

    schema_url = f"{worker.url}/openapi.json"
    explicit = await asyncio.to_thread(explicit_cases, schema_url, token)
    started = time.monotonic()
    report = await asyncio.to_thread(fuzz, schema_url, token)
    elapsed = time.monotonic() - started
    print(f"schemathesis: {explicit} explicit cases, {report.cases} generated cases over "
          f"{len(report.per_operation)} operation modes in {elapsed:.0f} s")
    for label, statuses in sorted(report.statuses.items()):
        print(f"  {label}: {dict(sorted(statuses.items()))}")

    assert not report.failures, "\n".join(report.failures)
    assert len(report.per_operation) >= 19 + 12, report.per_operation
    assert report.cases >= 10 * len(report.per_operation)

    cli_cases, _ = await asyncio.to_thread(cli_phases, schema_url, token, app_env.tmp)
    print(f"schemathesis CLI (coverage, stateful): {cli_cases} cases")
    assert cli_cases >= 100
    assert worker.proc is not None and worker.proc.poll() is None, "the worker survived"


async def test_the_documented_websockets_upgrade_with_101(app_env: AppEnv) -> None:
    worker = await app_env.start_worker()
    _, doc = await ahttp("GET", f"{worker.url}/openapi.json")
    sockets = [path for path, item in doc["paths"].items()
               if "101" in item.get("get", {}).get("responses", {})]
    assert sorted(sockets) == ["/ws/fleet", "/ws/telemetry"]
    async with aiohttp.ClientSession() as session:
        for path in sockets:
            async with session.ws_connect(worker.url + path) as ws:
                assert not ws.closed, path
