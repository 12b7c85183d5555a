"""What happens to telemetry: the Faust application, its agents, tables, sinks and web views.

Layout: `app` (the Faust app and its settings), `topics` (every topic, declared once), `state`
(tables written from batches), `agents/` (one module per domain), `sinks/` (PostgreSQL and
InfluxDB projections), `web/` (HTTP and WebSocket views), `migrations/` (PostgreSQL schema).
"""
