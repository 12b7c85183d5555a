"""PostgreSQL statements as data: a batched upsert (UNNEST) and the rows that go with it.

Why it exists: every PostgreSQL projection writes a whole batch with one statement per table,
its columns passed as arrays (`unnest`), guarded so that a replaying or slower writer never moves a
row backwards. `Statement` names the SQL and its column types once; a `Row` is one row for it;
the PostgreSQL sink groups a batch's rows by statement and runs each once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Statement:
    """SQL taking one array parameter per column, in `columns` order (`$1::type[]`, ...).

    A batch runs its statements by ascending `order` (a referenced table's rows first).
    """

    name: str
    sql: str
    columns: tuple[tuple[str, str], ...]
    order: int = 0


@dataclass(frozen=True, slots=True)
class Row:
    """One row of a statement, values in its column order."""

    statement: Statement
    values: tuple[Any, ...]


def _arrays(columns: Sequence[tuple[str, str]]) -> str:
    return ", ".join(f"${i}::{kind}[]" for i, (_, kind) in enumerate(columns, 1))


def upsert(table: str, columns: Sequence[tuple[str, str]], key: Sequence[str],
           guard: str | None = None, order: int = 0) -> Statement:
    """INSERT ... SELECT FROM unnest(...) ON CONFLICT (key) DO UPDATE, `WHERE guard` when given
    (e.g. `backup_jobs.last_seq <= EXCLUDED.last_seq`); DO NOTHING when no column is left."""
    names = ", ".join(name for name, _ in columns)
    updates = ", ".join(f"{name} = EXCLUDED.{name}" for name, _ in columns if name not in key)
    action = f"DO UPDATE SET {updates}" if updates else "DO NOTHING"
    where = f" WHERE {guard}" if guard and updates else ""
    sql = (f"INSERT INTO {table} ({names}) SELECT * FROM unnest({_arrays(columns)}) "
           f"ON CONFLICT ({', '.join(key)}) {action}{where}")
    return Statement(f"upsert:{table}", sql, tuple(columns), order)


def insert_new(table: str, columns: Sequence[tuple[str, str]], key: Sequence[str],
               order: int = 0) -> Statement:
    """INSERT ... ON CONFLICT (key) DO NOTHING: rows that never change once written."""
    names = ", ".join(name for name, _ in columns)
    sql = (f"INSERT INTO {table} ({names}) SELECT * FROM unnest({_arrays(columns)}) "
           f"ON CONFLICT ({', '.join(key)}) DO NOTHING")
    return Statement(f"insert:{table}", sql, tuple(columns), order)


def update_from(name: str, sql_template: str, columns: Sequence[tuple[str, str]],
                order: int = 0) -> Statement:
    """An UPDATE joined to `unnest(...) AS u(columns)`: the template has `{unnest}` for it."""
    unnest = f"unnest({_arrays(columns)}) AS u({', '.join(n for n, _ in columns)})"
    return Statement(name, sql_template.format(unnest=unnest), tuple(columns), order)
