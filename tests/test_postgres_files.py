"""pg_stat_statements and information_schema.columns CSV exports."""

from __future__ import annotations

from pathlib import Path

import pytest

from s3lineage.collect import CollectReport
from s3lineage.collect.postgres_files import (
    has_normalized_aws_s3_call,
    load_pg_columns,
    read_pg_columns_csv,
    read_pg_stat_statements_csv,
)
from s3lineage.errors import InputError
from s3lineage.model import Dialect, QueryEvent, Severity
from s3lineage.resolve.schema import Catalog

ROOT = Path(__file__).resolve().parents[1]
FIX = ROOT / "fixtures" / "postgres"
DEMO = ROOT / "fixtures" / "demo" / "postgres"


def pgss(path: Path, default_database: str | None = None) -> tuple[list[QueryEvent], CollectReport]:
    report = CollectReport()
    events = list(
        read_pg_stat_statements_csv(
            path, namespace="postgres://db:5432", default_database=default_database, report=report
        )
    )
    return events, report


def lines(items: list[QueryEvent]) -> list[int]:
    return [int((e.location or "").rsplit(":", 1)[1]) for e in items]


def test_pgss_emits_top_level_statements() -> None:
    events, report = pgss(FIX / "pg_stat_statements.csv")
    assert lines(events) == [7, 8, 10, 14]  # COPY, INSERT, CREATE FUNCTION, SELECT $1
    copy, insert, function, select = events
    assert copy.text.startswith("COPY (SELECT id, account_id, amount FROM transactions) TO PROGRAM")
    assert (copy.calls, copy.rows, copy.user, copy.default_database) == (1, 500, "etl", "appdb")
    assert copy.query_id == "4262196300150163545"
    assert copy.dialect is Dialect.POSTGRES and copy.namespace == "postgres://db:5432"
    assert copy.source == "pg_stat_statements:pg_stat_statements.csv"
    assert (
        insert.text == "INSERT INTO audit_log (actor, action) VALUES ($1, $2)"
        and insert.calls == 42
    )
    assert "query_export_to_s3('SELECT id FROM users'" in function.text  # literals in a body
    assert select.user == "bi"
    assert report.counts["nested_statements"] == 1


def test_pgss_normalized_aws_s3_calls_become_warnings() -> None:
    _, report = pgss(FIX / "pg_stat_statements.csv")
    diags = [d for d in report.diagnostics if d.code == "normalized_parameters"]
    assert [d.where for d in diags] == [f"{FIX / 'pg_stat_statements.csv'}:{n}" for n in (2, 5, 6)]
    assert all(d.severity is Severity.WARNING for d in diags)
    message = diags[0].message
    assert "8729540387228652563" in message
    assert "log_min_duration_statement = 0" in message
    assert "log_statement = 'all'" in message
    assert "log_parameter_max_length = -1" in message


def test_pgss_pg13_export_without_toplevel() -> None:
    events, report = pgss(FIX / "pgss_pg13.csv", default_database="appdb")
    (copy,) = events
    assert copy.default_database == "appdb"  # dbid is an oid: the configured name is used
    assert (copy.calls, copy.rows, copy.query_id) == (2, 80, "4262196300150163545")
    assert report.counts["normalized_parameters"] == 1


def test_has_normalized_aws_s3_call() -> None:
    assert has_normalized_aws_s3_call('SELECT "aws_s3".query_export_to_s3($1, $2, $3)')
    assert has_normalized_aws_s3_call("SELECT aws_s3.table_import_from_s3('t', '', $1, x)")
    assert not has_normalized_aws_s3_call("SELECT aws_s3.query_export_to_s3('q', 'b', 'k'), $1")
    assert not has_normalized_aws_s3_call("COPY t TO PROGRAM 'aws s3 cp - s3://b/k'")


def test_demo_pg_stat_statements() -> None:
    events, report = pgss(DEMO / "pg_stat_statements.csv")
    copies = [e for e in events if "TO PROGRAM 'aws s3 cp - s3://fintech-lake/" in e.text]
    assert len(copies) == 2 and all(e.rows == 500 for e in copies)
    # every aws_s3 export lost its literals: one warning per distinct entry
    assert report.counts["normalized_parameters"] == 4
    assert not any("query_export_to_s3(" in e.text for e in events)


def test_columns_export() -> None:
    report = CollectReport()
    rows = list(read_pg_columns_csv(FIX / "pg_columns.csv", report=report))
    assert rows[:2] == [
        (("appdb", "public", "users"), "email", 2),
        (("appdb", "public", "users"), "id", 1),
    ]
    assert len(rows) == 5
    bad = [(d.code, d.where) for d in report.diagnostics]
    assert bad == [
        ("bad_row", f"{FIX / 'pg_columns.csv'}:6"),
        ("bad_row", f"{FIX / 'pg_columns.csv'}:7"),
    ]


def test_load_columns_into_catalog() -> None:
    catalog = Catalog()
    assert load_pg_columns(FIX / "pg_columns.csv", catalog, CollectReport()) == 5
    assert catalog.columns(("appdb", "public", "users")) == ("id", "email", "created_at")
    assert catalog.columns(("appdb", "sales", "Orders")) == ("id",)
    demo = Catalog()
    load_pg_columns(DEMO / "pg_columns.csv", demo, CollectReport())
    assert demo.columns(("appdb", "public", "audit_log")) == ("id", "actor", "action", "at")


def test_columns_header_missing_a_column(tmp_path: Path) -> None:
    path = tmp_path / "cols.csv"
    path.write_text("table_schema,table_name,column_name\npublic,users,id\n")
    report = CollectReport()
    assert list(read_pg_columns_csv(path, report=report)) == []
    (diag,) = report.diagnostics
    assert diag.code == "missing_column" and diag.severity is Severity.ERROR
    assert "table_catalog" in diag.message and "ordinal_position" in diag.message


@pytest.mark.parametrize("reader", ["pgss", "columns"])
def test_missing_file_raises_input_error(tmp_path: Path, reader: str) -> None:
    missing = tmp_path / "absent.csv"
    with pytest.raises(InputError, match="absent.csv"):
        if reader == "pgss":
            read_pg_stat_statements_csv(
                missing, namespace=None, default_database=None, report=CollectReport()
            )
        else:
            read_pg_columns_csv(missing, report=CollectReport())
