"""The OpenAPI 3.1 document of every worker endpoint, built from the models the views enforce.

Why it exists: clients in other languages, and the contract test that fuzzes a live worker
(`tests/integration/web/test_openapi_contract.py`), need one machine-readable description of
what each endpoint takes and answers. Request bodies reuse the pydantic models' JSON Schemas
(the same models `schemas/json/` is exported from), so the document cannot drift from what is
validated; the answers' shapes are written here, next to each other, from the views and the
domain modules' `summary`/`view`/`telemetry` functions they call.

`document(...)` is pure: the few facts that depend on the worker's settings (whether ingest
needs a bearer token, the body limit, the dashboard's asset names) are its arguments.
What it must not do: describe an answer a view does not give, or serve anything (the view is
`streams.web.openapi`).
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from typing import Any, get_args

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from schemas.adapters.node import SeedApiSnapshot, SeedWsMessage
from schemas.alert import Alert
from schemas.backup import JOB_TYPES, BackupProgress, JobStatus
from schemas.errors import CONTROL_FREE
from schemas.node import NodeSnapshot
from schemas.worker import WorkerHeartbeat
from streams.domain.backup import STALENESS
from streams.domain.windows import SPECS
from streams.web import alerts as alerts_view
from streams.web.backup import DEFAULT_LIMIT, MAX_LIMIT, MAX_OFFSET

OPENAPI_VERSION = "3.1.0"
REF = "#/components/schemas/{model}"
JSON = "application/json"

JOB_STATUSES: tuple[str, ...] = get_args(JobStatus)

# Event envelope fields an HTTP body may leave out (the endpoint derives them).
_HEARTBEAT_ENVELOPE = ("event_id", "source", "ts", "schema")
# seed 003's body: the adapter sets these itself (from the path, its timestamp and the request).
_SEED003_SET_BY_ADAPTER = ("event_id", "source", "ts", "schema", "seq", "job_id", "job_type")


def _ref(name: str) -> dict[str, Any]:
    return {"$ref": REF.format(model=name)}


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    return {"anyOf": [schema, {"type": "null"}]}


IDENTIFIER: dict[str, Any] = {"type": "string", "minLength": 1, "maxLength": 256,
                              "pattern": CONTROL_FREE}
DATE_TIME: dict[str, Any] = {"type": "string", "format": "date-time"}
NUMBER: dict[str, Any] = {"type": "number"}
COUNT: dict[str, Any] = {"type": "integer", "minimum": 0}


def _object(properties: dict[str, Any], required: Iterable[str] | None = None,
            description: str | None = None) -> dict[str, Any]:
    """An answer object: exactly these properties (all required unless `required` says which),
    so a view that grows a field fails the contract test until the document says so."""
    schema: dict[str, Any] = {"type": "object", "properties": properties,
                              "required": sorted(properties if required is None else required),
                              "additionalProperties": False}
    if description:
        schema["description"] = description
    return schema


def _model_schemas() -> dict[str, Any]:
    """Component schemas of the pydantic models the views validate or answer with."""
    wanted: list[tuple[type[BaseModel], Any]] = [
        (WorkerHeartbeat, "validation"), (SeedApiSnapshot, "validation"),
        (BackupProgress, "validation"), (NodeSnapshot, "serialization"),
        (Alert, "serialization"), (SeedWsMessage, "serialization"),
    ]
    refs, definitions = models_json_schema(wanted, ref_template=REF, by_alias=True)
    components: dict[str, Any] = definitions["$defs"]
    # The names pydantic chose (a model wanted in both modes would get -Input/-Output).
    names = {model: ref["$ref"].rsplit("/", 1)[1] for (model, _), ref in refs.items()}
    components["HeartbeatBody"] = _without(components[names[WorkerHeartbeat]],
                                           optional=_HEARTBEAT_ENVELOPE)
    components["HeartbeatBody"]["description"] = (
        "A `worker.heartbeat/1` event; its envelope (event_id, source, ts, schema) is optional "
        "over HTTP: a missing `ts` is the time received, a missing `event_id` is derived from "
        "the content.")
    components["Seed003Body"] = _seed003_body(components[names[BackupProgress]])
    del components[names[BackupProgress]]
    components["NodeSnapshotView"] = {"allOf": [
        _ref(names[NodeSnapshot]),
        {"type": "object",
         "properties": {"network_rx_bytes_per_second": _nullable(NUMBER),
                        "network_tx_bytes_per_second": _nullable(NUMBER),
                        "silent": {"type": "boolean", "description": (
                            "No snapshot for FLEETSTREAM_NODE_SILENT_SECONDS: its node.silent "
                            "alert is open.")}},
         "required": ["network_rx_bytes_per_second", "network_tx_bytes_per_second", "silent"]}],
        # Closed like the other answers: the snapshot's fields, the rates and the silent flag.
        "unevaluatedProperties": False,
        "description": "A node's latest snapshot and its network rates (null until two "
                       "snapshots of one boot are known)."}
    return components


def _without(schema: dict[str, Any], *, optional: Iterable[str] = (),
             drop: Iterable[str] = ()) -> dict[str, Any]:
    result = copy.deepcopy(schema)
    gone = set(drop)
    result["properties"] = {k: v for k, v in result["properties"].items() if k not in gone}
    result["required"] = [k for k in result.get("required", []) if k not in set(optional) | gone]
    result.pop("title", None)
    return result


def _seed003_body(progress: dict[str, Any]) -> dict[str, Any]:
    body = _without(progress, drop=_SEED003_SET_BY_ADAPTER)
    body["properties"]["timestamp"] = {**DATE_TIME, "description": (
        "RFC 3339 event time with a UTC offset; it orders the job's reports (its `seq`).")}
    body["required"] = sorted({*body["required"], "timestamp"})
    body["description"] = (
        "Seed 003's progress report. The job comes from the path; a body `job_id` or "
        "`job_type` must equal the path's, and envelope keys (seq, event_id, source, ts, schema) "
        "are ignored.")
    return body


def _answer_schemas() -> dict[str, Any]:
    """The JSON answers the views build by hand (streams/web/*, the domain summaries)."""
    error = _object({"error": {"type": "string"},
                     "errors": {"type": "array", "items": _object(
                         {"field": {"type": "string"}, "message": {"type": "string"}})}},
                    required=["error"], description="Every 4xx/5xx answer from a view.")
    accepted = _object({"status": {"const": "accepted"}, "worker_id": IDENTIFIER,
                        "event_id": {"type": "string", "format": "uuid"}},
                       description="The event is on the heartbeat topic (Kafka acknowledged it).")
    task = _object({"task_id": IDENTIFIER, "name": _nullable({"type": "string"}),
                    "task_type": _nullable({"type": "string"}),
                    "started_at": _nullable(DATE_TIME),
                    "progress_percent": _nullable(NUMBER)})
    worker_common = {
        "worker_id": IDENTIFIER, "cpu_usage": NUMBER, "memory_usage": NUMBER,
        "gpu_usage": _nullable(NUMBER), "last_update": {"type": "integer",
                                                        "description": "unix seconds"},
        "last_update_at": DATE_TIME, "is_active": {"type": "boolean"},
        "inactive_since": _nullable(DATE_TIME), "interval_seconds": NUMBER,
    }
    worker_telemetry = _object({**worker_common, "running_tasks": {
        "type": "array", "items": _ref("RunningTaskView")}},
        description="Seed 004's WorkerTelemetryData, plus RFC 3339 times.")
    worker_basic = _object({**worker_common, "running_task_count": COUNT},
                           description="A worker's basic stats (GET /workers).")
    disk = _object({"disk_index": COUNT, "bytes_transferred": COUNT,
                    "total_bytes": _nullable(COUNT), "progress_percent": _nullable(NUMBER),
                    "status": {"type": "string"}})
    staleness = {"enum": list(STALENESS)}
    job = _object({
        "job_id": IDENTIFIER, "job_type": {"enum": list(JOB_TYPES)},
        "status": {"enum": list(JOB_STATUSES)}, "current_phase": {"type": "string"},
        "bytes_transferred": COUNT, "total_bytes": COUNT,
        "transfer_speed_bps": _nullable(NUMBER), "eta_seconds": _nullable(NUMBER),
        "progress_percent": _nullable(NUMBER), "started_at": _nullable(DATE_TIME),
        "last_telemetry_at": _nullable(DATE_TIME), "completed_at": _nullable(DATE_TIME),
        "stale": {"type": "boolean"}, "stale_level": staleness, "staleness": staleness,
        "stale_since": _nullable(DATE_TIME), "error": _nullable({"type": "string"}),
        "last_seq": COUNT, "disks": {"type": "array", "items": _ref("JobDisk")},
    }, description="A backup job as the workers aggregate it: seed 003's fields, disks summed.")
    page = _object({"jobs": {"type": "array", "items": _ref("Job")}, "count": COUNT,
                    "total": COUNT, "offset": COUNT, "next_offset": _nullable(COUNT)},
                   description="One page of jobs, newest telemetry first.")
    figure = _nullable(NUMBER)
    figures = {"type": "object", "additionalProperties": figure}
    vm = {"type": "object", "properties": {
        "host": IDENTIFIER, "vm_uuid": {"type": "string", "format": "uuid"},
        "vm_name": IDENTIFIER, "state": {"type": "string"}, "vcpus": _nullable(COUNT),
        "ts": {"type": "number", "description": "event time, unix seconds"},
        "nics": {"type": "object", "additionalProperties": figures},
        "disks": {"type": "object", "additionalProperties": figures}},
        "required": ["host", "vm_uuid", "vm_name", "state", "ts", "nics", "disks"],
        "additionalProperties": figure,
        "description": "A VM's identity, memory figures, counters, rates and `_angle_deg`s."}
    degraded = _object({"sink": {"type": "string"}, "reason": {"type": "string"},
                        "since": {"type": "integer"}, "retries": COUNT})
    health = _object({"status": {"enum": ["healthy", "degraded"]},
                      "time": {"type": "integer", "description": "unix seconds"},
                      "degraded": {"type": "array", "items": _ref("DegradedSink")}},
                     required=["status", "time"],
                     description="Seed 004's liveness; `degraded` lists sinks failing writes.")
    alert = _object({"alert_id": {"type": "string"}, "kind": {"type": "string"},
                     "subject": {"type": "string"}, "raised_at": DATE_TIME,
                     "cleared_at": _nullable(DATE_TIME), "detail": {"type": "object"}},
                    description="One raised alert as recorded in PostgreSQL; `cleared_at` is "
                                "null while it is open.")
    alert_list = _object({"status": {"enum": list(alerts_view.STATUSES)}, "count": COUNT,
                          "alerts": {"type": "array", "items": _ref("AlertRecord")}},
                         description="Recorded alerts, newest raised first.")
    return {
        **_rollup_schemas(),
        "AlertRecord": alert, "AlertList": alert_list,
        "Error": error, "Accepted": accepted, "RunningTaskView": task,
        "WorkerTelemetry": worker_telemetry, "WorkerBasic": worker_basic,
        "JobDisk": disk, "Job": job, "JobPage": page, "VmSummary": vm,
        "DegradedSink": degraded, "Health": health,
        "SnapshotAccepted": _object({
            "status": {"const": "success"}, "message": {"type": "string"},
            "node_id": IDENTIFIER, "timestamp": DATE_TIME,
            "event_id": {"type": "string", "format": "uuid"}}),
        "Seed003Accepted": _object({"status": {"const": "success"},
                                    "message": {"type": "string"}, "timestamp": DATE_TIME}),
    }


def _rollup_schemas() -> dict[str, Any]:
    """The rollup views' answers (streams/web/node.py, backup.py; streams.domain.rollups)."""
    bounds = {"start": DATE_TIME, "end": DATE_TIME}
    figure = _object({"avg": NUMBER, "max": NUMBER})
    rate = _object({"avg": _nullable(NUMBER), "max": _nullable(NUMBER)})
    node_window = _object({**bounds, "samples": COUNT, "cpu_percent": figure,
                           "memory_percent": figure, "network_rx_bytes_per_second": rate,
                           "network_tx_bytes_per_second": rate},
                          description="One event-time window of a node's snapshots.")
    job_window = _object({**bounds, "reports": COUNT, "bytes": COUNT, "bytes_per_second": NUMBER},
                         description="One event-time window of a job's reports: the growth of "
                                     "its transferred bytes between them, and that per second.")

    def rollups(key: str, window: str) -> dict[str, Any]:
        windows = {"type": "array", "items": _ref(window)}
        return _object({key: IDENTIFIER,
                        "windows": _object({spec.name: windows for spec in SPECS}),
                        "late_dropped": COUNT},
                       description="Held windows on event time, by start ascending; "
                                   "`late_dropped` counts events older than every held window.")

    return {"NodeWindow": node_window, "JobWindow": job_window,
            "NodeRollups": rollups("node_id", "NodeWindow"),
            "JobRollups": rollups("job_id", "JobWindow")}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {JSON: {"schema": schema}}}


def _error(description: str) -> dict[str, Any]:
    return _json(_ref("Error"), description)


def _not_found(description: str) -> dict[str, Any]:
    """404 of a per-key view: JSON from the view, or aiohttp's own text/plain answer when the
    path's id does not even match the route (it can hold characters the router refuses)."""
    answer = _error(description)
    answer["content"]["text/plain"] = {"schema": {"type": "string"}}
    return answer


def _keyed(item: str) -> dict[str, Any]:
    return {"type": "object", "additionalProperties": _ref(item)}


_SCOPE = {"name": "scope", "in": "query", "required": False,
          "schema": {"type": "string", "enum": ["local"]},
          "description": "Internal (scatter-gather): `local` answers only this worker's part, "
                         "as a key -> item mapping."}
_GATHER_FAILED = _error("A worker owning part of the table did not answer, or is "
                        "rebalancing (its part would miss keys).")
_KEY_UNAVAILABLE = _error("The worker owning the key did not answer, or is rebalancing.")
_BAD_SCOPE = _error("`scope` is not `local`.")


def _path(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": schema,
            "description": description}


def _ingest(security: list[dict[str, list[str]]], max_body_bytes: int) -> dict[str, Any]:
    """What every ingest operation shares (streams/web/ingest.py)."""
    responses = {
        "413": _error(f"The body is larger than {max_body_bytes} bytes "
                      "(FLEETSTREAM_MAX_BODY_BYTES)."),
        "422": _error("The body is not a valid event; `errors` names each bad field."),
        "503": _error("Kafka did not acknowledge the event."),
    }
    if security:
        responses["401"] = _error("Missing or wrong bearer token.")
    return {"security": security, "responses": responses}


def _operation(summary: str, responses: dict[str, Any], *, parameters: list[Any] | None = None,
               body: str | None = None, shared: dict[str, Any] | None = None,
               tags: list[str] | None = None) -> dict[str, Any]:
    operation: dict[str, Any] = {"summary": summary, "responses": dict(responses)}
    if tags:
        operation["tags"] = tags
    if parameters:
        operation["parameters"] = parameters
    if body is not None:
        operation["requestBody"] = {"required": True,
                                    "content": {JSON: {"schema": _ref(body)}}}
    if shared is not None:
        operation["security"] = shared["security"]
        operation["responses"].update(shared["responses"])
    return operation


def _paths(security: list[dict[str, list[str]]], max_body_bytes: int,
           static_names: list[str]) -> dict[str, Any]:
    ingest = _ingest(security, max_body_bytes)
    worker_id = _path("worker_id", IDENTIFIER, "The compute worker's id.")
    job_id = _path("job_id", IDENTIFIER, "The backup job's id.")
    node_id = _path("node_id", IDENTIFIER, "The node's id.")
    websocket = {
        "101": {"description": "Switching Protocols: the stream's JSON text messages follow."},
        "400": {"description": "Not a WebSocket upgrade request.",
                "content": {"text/plain": {"schema": {"type": "string"}}}},
    }
    limit = {"name": "limit", "in": "query", "required": False,
             "schema": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT,
                        "default": DEFAULT_LIMIT}}
    offset = {"name": "offset", "in": "query", "required": False,
              "schema": {"type": "integer", "minimum": 0, "maximum": MAX_OFFSET,
                         "default": 0}}
    return {
        "/health": {"get": _operation("Liveness and degraded sinks", {
            "200": _json(_ref("Health"), "The worker is alive (degraded or not).")},
            tags=["operations"])},
        "/metrics": {"get": _operation("Prometheus metrics", {"200": {
            "description": "Prometheus text exposition format 0.0.4.",
            "content": {"text/plain": {"schema": {"type": "string"}}}}}, tags=["operations"])},
        "/openapi.json": {"get": _operation("This document", {
            "200": _json({"type": "object"}, "The OpenAPI 3.1 document.")},
            tags=["operations"])},
        "/": {"get": _operation("The live dashboard page (`?refresh=<seconds>` is read by the "
                                "page's script)", {"200": {
            "description": "The page.", "content": {"text/html": {"schema": {"type": "string"}}}}},
            tags=["dashboard"])},
        "/static/{name}": {"get": _operation("The dashboard's assets", {
            "200": {"description": "The asset.",
                    "content": {media: {"schema": {"type": "string"}} for media in
                                ("text/css", "text/javascript", "text/html", "image/svg+xml")}},
            "404": _error("No such asset.")},
            parameters=[_path("name", {"type": "string", "enum": static_names},
                              "An asset's file name.")], tags=["dashboard"])},
        "/api/heartbeat": {"post": _operation("Ingest one worker heartbeat", {
            "202": _json(_ref("Accepted"), "Kafka has the heartbeat.")},
            body="HeartbeatBody", shared=ingest, tags=["workers"])},
        "/workers": {"get": _operation("Every known worker's basic stats, by worker_id", {
            "200": _json(_keyed("WorkerBasic"), "worker_id -> basic stats."),
            "400": _BAD_SCOPE,
            "503": _GATHER_FAILED}, parameters=[_SCOPE], tags=["workers"])},
        "/workers/{worker_id}": {"delete": _operation("Unregister a worker", {
            "202": _json(_ref("Accepted"), "Kafka has the `worker.forget/1`."),
            "422": _error("The worker id is not a valid id."),
            "503": _error("Kafka did not acknowledge the event.")},
            parameters=[worker_id],
            shared={"security": security,
                    "responses": {k: v for k, v in ingest["responses"].items()
                                  if k == "401"}},
            tags=["workers"])},
        "/telemetry": {"get": _operation("Every known worker's telemetry, by worker_id", {
            "200": _json(_keyed("WorkerTelemetry"), "worker_id -> telemetry."),
            "400": _BAD_SCOPE,
            "503": _GATHER_FAILED}, parameters=[_SCOPE], tags=["workers"])},
        "/telemetry/{worker_id}": {"get": _operation("One worker's telemetry", {
            "200": _json(_ref("WorkerTelemetry"), "The worker's telemetry."),
            "404": _not_found("No heartbeat was received from this worker."),
            "503": _KEY_UNAVAILABLE},
            parameters=[worker_id], tags=["workers"])},
        "/api/v1/telemetry/{job_type}/{job_id}": {"post": _operation(
            "Ingest one backup progress report (seed 003)", {
                "200": _json(_ref("Seed003Accepted"), "Kafka has the report.")},
            parameters=[_path("job_type", {"type": "string", "enum": list(JOB_TYPES)},
                              "The kind of job."), job_id],
            body="Seed003Body", shared=ingest, tags=["backup"])},
        "/jobs": {"get": _operation("Backup jobs, newest telemetry first, a page at a time", {
            "200": _json({"anyOf": [_ref("JobPage"), _keyed("Job")]},
                         "A page of jobs (with `scope=local`: this worker's, by job_id)."),
            "400": _error("A query parameter is out of range or unknown."),
            "503": _GATHER_FAILED},
            parameters=[
                {"name": "status", "in": "query", "required": False,
                 "schema": {"type": "string", "enum": list(JOB_STATUSES)}},
                {"name": "staleness", "in": "query", "required": False,
                 "schema": {"type": "string", "enum": list(STALENESS)}},
                limit, offset, _SCOPE], tags=["backup"])},
        "/jobs/{job_id}": {"get": _operation("One backup job with its disks", {
            "200": _json(_ref("Job"), "The job."),
            "404": _not_found("The job never reported progress (or left the table)."),
            "503": _KEY_UNAVAILABLE},
            parameters=[job_id], tags=["backup"])},
        "/jobs/{job_id}/rollups": {"get": _operation("One backup job's window rollups", {
            "200": _json(_ref("JobRollups"), "Tumbling 1 min and hopping 5 min windows."),
            "404": _not_found("The job never reported progress (or left the table)."),
            "503": _error("The worker owning the key did not answer.")},
            parameters=[job_id], tags=["backup"])},
        "/api/telemetry/snapshot": {"post": _operation("Ingest one node snapshot (seed 000)", {
            "200": _json(_ref("SnapshotAccepted"), "Kafka has the snapshot.")},
            body=SeedApiSnapshot.__name__, shared=ingest, tags=["nodes"])},
        "/nodes": {"get": _operation("Every node's latest snapshot and rates", {
            "200": _json({"anyOf": [
                _object({"count": COUNT, "nodes": {"type": "array",
                                                   "items": _ref("NodeSnapshotView")}}),
                _keyed("NodeSnapshotView")]},
                "Nodes sorted by node_id (with `scope=local`: this worker's, by node_id)."),
            "400": _BAD_SCOPE,
            "503": _GATHER_FAILED}, parameters=[_SCOPE], tags=["nodes"])},
        "/nodes/{node_id}": {"get": _operation("One node's latest snapshot and rates", {
            "200": _json(_ref("NodeSnapshotView"), "The node."),
            "404": _not_found("No snapshot was received from this node."),
            "503": _KEY_UNAVAILABLE},
            parameters=[node_id], tags=["nodes"])},
        "/nodes/{node_id}/rollups": {"get": _operation("One node's window rollups", {
            "200": _json(_ref("NodeRollups"), "Tumbling 1 min and hopping 5 min windows."),
            "404": _not_found("No snapshot was received from this node."),
            "503": _error("The worker owning the key did not answer.")},
            parameters=[node_id], tags=["nodes"])},
        "/vms": {"get": _operation("Every VM's latest figures", {
            "200": _json({"anyOf": [
                _object({"count": COUNT, "vms": _keyed("VmSummary")}), _keyed("VmSummary")]},
                "vm_uuid -> figures (with `scope=local`: the bare mapping)."),
            "400": _BAD_SCOPE,
            "503": _GATHER_FAILED}, parameters=[_SCOPE], tags=["vms"])},
        "/alerts": {"get": _operation("Recorded alerts (default: the open ones), newest first", {
            "200": _json(_ref("AlertList"), "The alerts, from PostgreSQL."),
            "400": _error("`status` is unknown or `limit` is out of range."),
            "503": _error("PostgreSQL did not answer.")},
            parameters=[
                {"name": "status", "in": "query", "required": False,
                 "schema": {"type": "string", "enum": list(alerts_view.STATUSES),
                            "default": alerts_view.DEFAULT_STATUS}},
                {"name": "limit", "in": "query", "required": False,
                 "schema": {"type": "integer", "minimum": 1, "maximum": alerts_view.MAX_LIMIT,
                            "default": alerts_view.DEFAULT_LIMIT}}],
            tags=["alerts"])},
        "/ws/telemetry": {"get": _operation(
            "WebSocket: live node snapshots in seed 000/001's message format "
            "(#/components/schemas/SeedWsMessage)", websocket, tags=["nodes"])},
        "/ws/fleet": {"get": _operation(
            "WebSocket: live heartbeats, job change notices and alerts "
            "(#/components/schemas/Alert)", websocket,
            tags=["dashboard"])},
    }


def document(*, token_required: bool, max_body_bytes: int,
             static_names: Iterable[str]) -> dict[str, Any]:
    """The OpenAPI 3.1 document of a worker with these settings."""
    security: list[dict[str, list[str]]] = [{"bearerAuth": []}] if token_required else []
    components = {**_model_schemas(), **_answer_schemas()}
    return {
        "openapi": OPENAPI_VERSION,
        "info": {"title": "fleetstream worker", "version": "1",
                 "description": "HTTP and WebSocket endpoints of a fleetstream stream worker."},
        "paths": _paths(security, max_body_bytes, sorted(static_names)),
        "components": {
            "schemas": components,
            "securitySchemes": {"bearerAuth": {
                "type": "http", "scheme": "bearer",
                "description": "FLEETSTREAM_INGEST_TOKEN; required by the ingest endpoints "
                               "when the worker has one."}},
        },
    }

