"""Snowflake export readers (collect/snowflake_files.py) and the row reader under them."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from s3lineage.collect import CollectReport
from s3lineage.collect.snowflake_files import (
    load_snowflake_columns,
    parse_stage_url,
    read_copy_history,
    read_query_history,
    read_snowflake_columns,
    read_stages,
)
from s3lineage.collect.tabular import parse_int, parse_timestamp, read_rows
from s3lineage.errors import InputError
from s3lineage.model import Dialect, Severity
from s3lineage.resolve.schema import Catalog

DEMO = Path(__file__).resolve().parents[1] / "fixtures" / "demo" / "snowflake"


def write(tmp_path: Path, name: str, content: str | bytes) -> Path:
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


def codes(report: CollectReport) -> list[tuple[str, str | None]]:
    return [(d.code, d.where) for d in report.diagnostics]


# --- tabular: the row reader -------------------------------------------------------------


def test_csv_header_any_case_bom_and_multiline_fields(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "t.csv",
        b'\xef\xbb\xbfquery_ID,Query_Text\r\nq1,"SELECT 1\r\nFROM t"\r\n\r\nq2,x\r\n',
    )
    rows = list(read_rows(path, CollectReport()))
    assert rows == [
        (2, {"QUERY_ID": "q1", "QUERY_TEXT": "SELECT 1\r\nFROM t"}),
        (5, {"QUERY_ID": "q2", "QUERY_TEXT": "x"}),
    ]


def test_json_lines_sniffed_from_content(tmp_path: Path) -> None:
    path = write(
        tmp_path, "export.txt", '\n{"query_id": "q1", "rows_inserted": 3}\n{"QUERY_ID": "q2"}\n'
    )
    assert list(read_rows(path, CollectReport())) == [
        (2, {"QUERY_ID": "q1", "ROWS_INSERTED": 3}),
        (3, {"QUERY_ID": "q2"}),
    ]


def test_bad_json_line_reported_and_reading_goes_on(tmp_path: Path) -> None:
    path = write(tmp_path, "h.jsonl", '{"A": 1}\n{"A": \n[1]\n{"A": 2}\n')
    report = CollectReport()
    assert [n for n, _ in read_rows(path, report)] == [1, 4]
    assert codes(report) == [("bad_row", f"{path}:2"), ("bad_row", f"{path}:3")]


def test_wrong_field_count_and_malformed_quote(tmp_path: Path) -> None:
    path = write(tmp_path, "t.csv", 'A,B\n1,2\n3\n4,"x"y\n5,6\n')
    report = CollectReport()
    assert [r["A"] for _, r in read_rows(path, report)] == ["1", "5"]
    assert codes(report) == [("bad_row", f"{path}:3"), ("bad_row", f"{path}:4")]
    assert all(d.severity is Severity.WARNING for d in report.diagnostics)


@pytest.mark.parametrize(
    ("content", "kept", "bad_line"),
    [
        ('A,B\n1,ok\n2,"cut off', ["1"], 3),
        # An unterminated quote makes csv read to end of file; the lines it ate are re-read.
        ('A,B\n1,"never closed\n2,ok\n3,ok\n', ["2", "3"], 2),
    ],
)
def test_truncated_row(tmp_path: Path, content: str, kept: list[str], bad_line: int) -> None:
    path = write(tmp_path, "t.csv", content)
    report = CollectReport()
    assert [r["A"] for _, r in read_rows(path, report)] == kept
    assert codes(report) == [("bad_row", f"{path}:{bad_line}")]


def test_non_utf8_row_skipped_with_line(tmp_path: Path) -> None:
    path = write(tmp_path, "t.csv", b"A,B\n1,caf\xe9\n2,ok\n")
    report = CollectReport()
    assert [r["A"] for _, r in read_rows(path, report)] == ["2"]
    assert codes(report) == [("invalid_encoding", f"{path}:2")]


def test_missing_file_raises_input_error_at_call(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="nope.csv"):
        read_query_history(tmp_path / "nope.csv", namespace=None, report=CollectReport())


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2025-01-15 10:00:00.123 +0000", datetime(2025, 1, 15, 10, 0, 0, 123000, UTC)),
        ("2025-01-15 02:00:00.000 -0800", datetime(2025, 1, 15, 10, 0, tzinfo=UTC)),
        ("2025-01-15T10:00:00Z", datetime(2025, 1, 15, 10, 0, tzinfo=UTC)),
        ("2025-01-15T12:00:00+02:00", datetime(2025, 1, 15, 10, 0, tzinfo=UTC)),
        ("2025-01-15 10:00:00", datetime(2025, 1, 15, 10, 0, tzinfo=UTC)),
        ("1736935200.000", datetime(2025, 1, 15, 10, 0, tzinfo=UTC)),
        ("", None),
        ("yesterday", None),
    ],
)
def test_parse_timestamp(text: str, expected: datetime | None) -> None:
    assert parse_timestamp(text) == expected


def test_parse_int_tolerates_empty() -> None:
    assert [parse_int(v) for v in ("", None, "12", "12.0", 7)] == [None, None, 12, 12, 7]


# --- QUERY_HISTORY -----------------------------------------------------------------------

QH_HEADER = (
    "query_id,query_text,database_name,schema_name,query_type,session_id,user_name,"
    "execution_status,start_time,rows_inserted,rows_unloaded,rows_produced"
)


def test_query_history_event_fields(tmp_path: Path) -> None:
    row = 'q1,"COPY INTO T\nFROM @S/",RAW,LANDING,COPY,42,LOADER,SUCCESS,2025-01-15 02:05:00,12,0,1'
    path = write(tmp_path, "qh.csv", f"{QH_HEADER}\n{row}\n")
    (event,) = read_query_history(path, namespace="snowflake://acme", report=CollectReport())
    assert event.text == "COPY INTO T\nFROM @S/"
    assert event.dialect is Dialect.SNOWFLAKE
    assert (event.source, event.location) == ("snowflake:qh.csv", f"{path}:2")
    assert (event.query_id, event.session_id, event.user) == ("q1", "42", "LOADER")
    assert (event.default_database, event.default_schema) == ("RAW", "LANDING")
    assert event.namespace == "snowflake://acme"
    assert (event.time, event.rows) == (datetime(2025, 1, 15, 2, 5, tzinfo=UTC), 12)


def test_query_history_skips_failed_lineage_free_empty_and_duplicate(tmp_path: Path) -> None:
    rows = [
        "q1,COPY INTO T FROM @S/,RAW,LANDING,COPY,1,U,FAIL,,,,",
        "q2,SHOW STAGES,RAW,LANDING,SHOW,1,U,SUCCESS,,,,",
        "q3,,RAW,LANDING,UNKNOWN,1,U,SUCCESS,,,,",
        "q4,SELECT * FROM @S/f.csv,RAW,LANDING,SELECT,1,U,SUCCESS,,0,0,10",
        "q4,SELECT * FROM @S/f.csv,RAW,LANDING,SELECT,1,U,SUCCESS,,0,0,10",
    ]
    path = write(tmp_path, "qh.csv", "\n".join([QH_HEADER, *rows]))
    report = CollectReport()
    events = list(read_query_history(path, namespace=None, report=report))
    assert [(e.query_id, e.rows) for e in events] == [("q4", 10)]
    assert codes(report) == [("failed_statement", f"{path}:2"), ("empty_statement", f"{path}:4")]
    assert report.diagnostics[0].severity is Severity.INFO and "q1" in report.diagnostics[0].message
    assert report.counts == {
        "failed_statements": 1,
        "skipped_statements": 1,
        "duplicate_statements": 1,
    }


def test_query_history_json_lines_and_keep_all_types(tmp_path: Path) -> None:
    row = {
        "QUERY_ID": "q1",
        "QUERY_TEXT": "SHOW STAGES",
        "QUERY_TYPE": "SHOW",
        "END_TIME": 1736906400,
    }
    path = write(tmp_path, "qh.jsonl", json.dumps(row) + "\n")
    (event,) = read_query_history(path, report=CollectReport(), skip_query_types=())
    assert event.time == datetime(2025, 1, 15, 2, tzinfo=UTC) and event.rows is None


def test_query_history_wrong_export_is_one_error(tmp_path: Path) -> None:
    path = write(tmp_path, "qh.csv", "FILE_NAME,TABLE_NAME\nf.csv,T\n")
    report = CollectReport()
    assert list(read_query_history(path, namespace=None, report=report)) == []
    assert codes(report) == [("missing_column", str(path))]


# --- COPY_HISTORY ------------------------------------------------------------------------

CH_HEADER = (
    "FILE_NAME,STAGE_LOCATION,LAST_LOAD_TIME,ROW_COUNT,ROW_PARSED,FILE_SIZE,FIRST_ERROR_MESSAGE,"
    "ERROR_COUNT,STATUS,TABLE_NAME,TABLE_SCHEMA_NAME,TABLE_CATALOG_NAME,"
    "PIPE_CATALOG_NAME,PIPE_SCHEMA_NAME,PIPE_NAME,PIPE_RECEIVED_TIME"
)


def test_copy_history_pipe_and_failed_rows(tmp_path: Path) -> None:
    rows = [
        (
            "t/part-000.csv,s3://b/exports/,2025-01-15 02:11:47,50,50,3200,,0,Loaded,"
            "TX,LANDING,RAW,RAW,LANDING,TX_PIPE,2025-01-15 02:11:29.318 +0000"
        ),
        (
            "u.csv,s3://b/exports/users/,2025-01-15 02:05:00,,3,100,bad date,3,Load failed,"
            "USERS,LANDING,RAW,,,,"
        ),
        ",s3://b/,,,,,,,Loaded,USERS,LANDING,RAW,,,,",
    ]
    path = write(tmp_path, "ch.csv", "\n".join([CH_HEADER, *rows]))
    report = CollectReport()
    piped, failed = read_copy_history(path, report=report)
    assert (piped.table, piped.pipe) == (("RAW", "LANDING", "TX"), "RAW.LANDING.TX_PIPE")
    assert (piped.row_count, piped.loaded, piped.url) == (50, True, "s3://b/exports/t/part-000.csv")
    assert piped.pipe_received_time == datetime(2025, 1, 15, 2, 11, 29, 318000, UTC)
    assert (failed.pipe, failed.status, failed.loaded) == (None, "Load failed", False)
    assert (failed.row_count, failed.error_count, failed.first_error) == (None, 3, "bad date")
    assert failed.location == f"{path}:3"
    assert codes(report) == [("bad_row", f"{path}:4")]


# --- stages ------------------------------------------------------------------------------


def test_show_stages_urls(tmp_path: Path) -> None:
    rows = [
        "created_on,name,database_name,schema_name,url,type,storage_integration",
        "2025-01-14 02:00:03.512 +0000,LAKE_STAGE,RAW,LANDING,s3://b/exports/,EXTERNAL,S3_INT",
        '2025-01-14 02:00:03.512 +0000,Quoted Stg,RAW,LANDING,"[""s3://b/p/""]",EXTERNAL,',
        "2024-11-02 16:24:51.087 +0000,INTERNAL_STG,RAW,LANDING,,INTERNAL,",
    ]
    path = write(tmp_path, "stages.csv", "\n".join(rows))
    lake, quoted, internal = read_stages(path, report=CollectReport())
    assert (lake.parts, lake.url) == (("RAW", "LANDING", "LAKE_STAGE"), "s3://b/exports/")
    assert lake.storage_integration == "S3_INT"
    assert lake.created_on == datetime(2025, 1, 14, 2, 0, 3, 512000, UTC)
    assert (quoted.qualified_name, quoted.url) == ("RAW.LANDING.Quoted Stg", "s3://b/p/")
    assert (internal.url, internal.type) == (None, "INTERNAL")


def test_information_schema_stages(tmp_path: Path) -> None:
    rows = [
        "STAGE_CATALOG,STAGE_SCHEMA,STAGE_NAME,STAGE_URL,STAGE_TYPE",
        "RAW,LANDING,LAKE,s3://b/,External Named",
    ]
    path = write(tmp_path, "s.csv", "\n".join(rows))
    (stage,) = read_stages(path, report=CollectReport())
    assert (stage.parts, stage.url) == (("RAW", "LANDING", "LAKE"), "s3://b/")
    assert stage.type == "External Named"


@pytest.mark.parametrize(
    ("value", "url"),
    [('["s3://b/p/"]', "s3://b/p/"), ("s3://b/p/", "s3://b/p/"), ("[]", None), ("", None)],
)
def test_parse_stage_url(value: str, url: str | None) -> None:
    assert parse_stage_url(value) == url


# --- INFORMATION_SCHEMA.COLUMNS ----------------------------------------------------------


def test_columns_into_catalog_by_ordinal(tmp_path: Path) -> None:
    rows = [
        "table_catalog,table_schema,table_name,column_name,ordinal_position",
        "RAW,L,T,B,2",
        "RAW,L,T,A,1",
    ]
    path = write(tmp_path, "c.csv", "\n".join(rows))
    assert [c.name for c in read_snowflake_columns(path, report=CollectReport())] == ["B", "A"]
    catalog = Catalog()
    assert load_snowflake_columns(path, catalog, CollectReport()) == 2
    assert catalog.columns(("RAW", "L", "T")) == ("A", "B")


# --- the bundled demo --------------------------------------------------------------------


def test_demo_query_history() -> None:
    report = CollectReport()
    events = list(
        read_query_history(
            DEMO / "query_history.csv", namespace="snowflake://fintech-prod", report=report
        )
    )
    assert len(events) == 17
    assert report.counts == {"failed_statements": 1, "skipped_statements": 1}
    assert [d.code for d in report.diagnostics] == ["failed_statement"]
    assert not any("TRANSACTIONS FROM" in e.text and e.text.startswith("COPY") for e in events)
    users = [e for e in events if e.text.startswith("COPY INTO USERS ")]
    assert [e.time.date().isoformat() for e in users if e.time] == [
        "2025-01-14",
        "2025-01-15",
        "2025-01-16",
    ]
    assert all(e.default_database == "RAW" and e.default_schema == "LANDING" for e in events)


def test_demo_copy_history_keys_match_postgres_exports() -> None:
    report = CollectReport()
    loads = list(read_copy_history(DEMO / "copy_history.csv", report=report))
    assert not report.diagnostics and all(load.loaded for load in loads)
    assert sorted(load.url or "" for load in loads) == [
        "s3://fintech-lake/exports/accounts/accounts_2025-01-15.csv",
        "s3://fintech-lake/exports/daily_balances/daily_balances_2025-01-15.csv",
        "s3://fintech-lake/exports/merchants/merchants.csv",
        "s3://fintech-lake/exports/transactions/2025/01/15/part-000.csv",
        "s3://fintech-lake/exports/transactions/2025/01/15/part-001.csv",
        "s3://fintech-lake/exports/users/dt=2025-01-14/users.csv",
        "s3://fintech-lake/exports/users/dt=2025-01-15/users.csv",
        "s3://fintech-lake/exports/users/dt=2025-01-16/users.csv",
        "s3://fintech-lake/vendor/fx_rates/fx_2025-01-15.csv",
    ]
    piped = {load.file_name for load in loads if load.pipe == "RAW.LANDING.TRANSACTIONS_PIPE"}
    assert piped == {"transactions/2025/01/15/part-000.csv", "transactions/2025/01/15/part-001.csv"}


def test_demo_stages_and_columns() -> None:
    report = CollectReport()
    stages = {s.qualified_name: s.url for s in read_stages(DEMO / "stages.csv", report=report)}
    assert stages == {
        "RAW.LANDING.LAKE_STAGE": "s3://fintech-lake/exports/",
        "RAW.LANDING.INTERNAL_STG": None,
    }
    catalog = Catalog()
    load_snowflake_columns(DEMO / "sf_columns.csv", catalog, report)
    assert len(catalog) == 10 and not report.diagnostics
    assert catalog.columns(("RAW", "LANDING", "FX_RATES")) == ("CURRENCY", "RATE", "AS_OF")
    assert catalog.columns(("ANALYTICS", "MARTS", "FACT_TRANSACTIONS")) == (
        "TRANSACTION_ID", "ACCOUNT_ID", "MERCHANT_NAME", "AMOUNT_USD", "CREATED_AT",
    )  # fmt: skip
