"""Projections: PostgreSQL and InfluxDB, behind one retry contract (`streams.sinks.base`).

`database()` and `influx()` are this worker's single connection pool and writer, opened on first
use (the PostgreSQL schema is migrated then).
"""

from __future__ import annotations

import functools

from streams.app import settings
from streams.sinks.influx import InfluxWriter
from streams.sinks.postgres import Database


@functools.cache
def database() -> Database:
    return Database(settings.database_url)


@functools.cache
def influx() -> InfluxWriter:
    return InfluxWriter(settings)
