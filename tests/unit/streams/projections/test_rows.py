"""The SQL the row builders write, pinned as hand-written text (PostgreSQL runs it for real in the
integration tests; here each clause is checked, so a dropped guard or key shows at once)."""

from __future__ import annotations

from streams.projections.rows import Row, Statement, insert_new, update_from, upsert

COLUMNS = (("a", "text"), ("b", "int8"), ("c", "timestamptz"))
UNNEST = "unnest($1::text[], $2::int8[], $3::timestamptz[])"


def test_an_upsert_updates_every_non_key_column_where_the_guard_holds() -> None:
    statement = upsert("t", COLUMNS, key=("a",), guard="t.c <= EXCLUDED.c", order=2)
    assert statement == Statement(
        "upsert:t",
        f"INSERT INTO t (a, b, c) SELECT * FROM {UNNEST} ON CONFLICT (a) "
        "DO UPDATE SET b = EXCLUDED.b, c = EXCLUDED.c WHERE t.c <= EXCLUDED.c",
        COLUMNS, 2)


def test_an_upsert_without_a_guard_has_no_where_and_order_defaults_to_0() -> None:
    statement = upsert("t", COLUMNS, key=("a", "b"))
    assert statement.sql == (f"INSERT INTO t (a, b, c) SELECT * FROM {UNNEST} "
                             "ON CONFLICT (a, b) DO UPDATE SET c = EXCLUDED.c")
    assert statement.order == 0


def test_an_upsert_of_key_columns_only_does_nothing_and_drops_the_guard() -> None:
    statement = upsert("t", COLUMNS[:1], key=("a",), guard="t.a <> EXCLUDED.a")
    assert statement.sql == ("INSERT INTO t (a) SELECT * FROM unnest($1::text[]) "
                             "ON CONFLICT (a) DO NOTHING")


def test_insert_new_skips_conflicting_rows() -> None:
    assert insert_new("t", COLUMNS, key=("a", "c"), order=3) == Statement(
        "insert:t",
        f"INSERT INTO t (a, b, c) SELECT * FROM {UNNEST} ON CONFLICT (a, c) DO NOTHING",
        COLUMNS, 3)
    assert insert_new("t", COLUMNS, key=("a",)).order == 0


def test_update_from_fills_the_unnest_alias_into_the_template() -> None:
    statement = update_from("clear:t", "UPDATE t SET c = u.c FROM {unnest} WHERE t.a = u.a",
                            COLUMNS, order=1)
    assert statement == Statement(
        "clear:t", f"UPDATE t SET c = u.c FROM {UNNEST} AS u(a, b, c) WHERE t.a = u.a",
        COLUMNS, 1)
    assert update_from("n", "{unnest}", COLUMNS).order == 0


def test_a_row_is_its_statement_and_values() -> None:
    statement = insert_new("t", COLUMNS[:1], key=("a",))
    assert Row(statement, ("x",)) == Row(statement, ("x",)) != Row(statement, ("y",))
