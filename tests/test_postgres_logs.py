"""read_postgres_log over small fixtures (fixtures/postgres/) and the generated demo logs."""

from __future__ import annotations

import gzip
import shutil
from datetime import UTC
from pathlib import Path

import pytest

from s3lineage.collect import CollectReport, postgres_logs
from s3lineage.collect.postgres_logs import (
    detect_prefix,
    parse_parameters,
    prefix_regex,
    read_postgres_log,
    search_path_after,
    substitute_parameters,
)
from s3lineage.errors import InputError
from s3lineage.model import Dialect, QueryEvent, Severity

ROOT = Path(__file__).resolve().parents[1]
FIX = ROOT / "fixtures" / "postgres"
DEMO = ROOT / "fixtures" / "demo" / "postgres"
STATEMENT_ALL_PREFIX = "%m %c %l %v %x %e %Q [%p] %q%u@%d %a "
RDS_PREFIX = "%t:%r:%u@%d:[%p]:"


def read(
    path: Path, prefix: str | None = None, **kw: object
) -> tuple[list[QueryEvent], CollectReport]:
    report = CollectReport()
    events = list(
        read_postgres_log(
            path,
            namespace=kw.get("namespace"),  # type: ignore[arg-type]
            default_database=kw.get("default_database"),  # type: ignore[arg-type]
            log_line_prefix=prefix,
            report=report,
        )
    )
    return events, report


def line_of(event: QueryEvent) -> int:
    assert event.location is not None
    return int(event.location.rsplit(":", 1)[1])


def codes(report: CollectReport) -> list[tuple[str, str]]:
    return [(d.code, (d.where or "").rsplit(":", 1)[-1]) for d in report.diagnostics]


# ----------------------------------------------------------------- csvlog / jsonlog


@pytest.mark.parametrize("name", ["mindur.csv", "mindur.json"])
def test_csvlog_and_jsonlog_events(name: str) -> None:
    events, report = read(FIX / name, namespace="postgres://db:5432", default_database="fallback")
    assert [e.text.split()[0] for e in events] == ["SELECT", "SET", "SELECT", "COPY", "SELECT"]
    first = events[0]
    assert first.dialect is Dialect.POSTGRES
    assert first.source == f"postgres:{name}"
    assert first.location == f"{FIX / name}:2"
    assert first.user == "etl" and first.default_database == "appdb"
    assert first.session_id == "6b0a0001.1005"
    assert first.query_id == "8729540387228652563"
    assert first.namespace == "postgres://db:5432"
    assert first.time is not None and first.time.tzinfo is UTC
    assert (first.time.hour, first.time.second, first.time.microsecond) == (2, 1, 250000)
    assert report.counts["failed_statements"] == 1


def test_csvlog_message_with_raw_newlines() -> None:
    events, _ = read(FIX / "mindur.csv")
    assert events[0].text.splitlines()[1] == "    'SELECT id, email FROM public.users',"
    assert events[0].text.endswith("options := 'format csv, header true'\n);")
    assert line_of(events[1]) == 7  # the multi-line row took lines 2-6


def test_jsonlog_matches_csvlog() -> None:
    csv_events, _ = read(FIX / "mindur.csv")
    json_events, _ = read(FIX / "mindur.json")
    fields = lambda e: (e.text, e.session_id, e.user, e.search_path, e.query_id, e.time)
    assert [fields(e) for e in csv_events] == [fields(e) for e in json_events]


def test_execute_parameters_substituted_with_quotes_and_null() -> None:
    events, _ = read(FIX / "mindur.csv")
    (execute,) = [e for e in events if e.session_id == "6b0a0004.1008"]  # parse+bind+execute: once
    assert execute.text == (
        "SELECT * FROM aws_s3.query_export_to_s3("
        "'SELECT id, name FROM public.merchants WHERE name <> ''O''''Brien''', "
        "aws_commons.create_s3_uri('fintech-lake', 'exports/merchants/merchants.csv', "
        "'us-east-1'), options := 'format csv, header true', kms_key := NULL)"
    )
    assert line_of(execute) == 12  # the execute line, not parse or bind


def test_search_path_tracked_per_session() -> None:
    events, _ = read(FIX / "mindur.csv")
    by_text = {e.text.split()[0] + e.session_id[-4:]: e for e in events if e.session_id}
    assert by_text["SET1006"].search_path == ()  # takes effect after the SET
    assert by_text["COPY1006"].search_path == ("sales", "Mixed Case")
    assert by_text["SELECT1007"].search_path == ()  # another session


def test_failed_statement_skipped_counted_and_reported() -> None:
    events, report = read(FIX / "mindur.csv")
    assert not any("cards" in e.text for e in events)
    (diag,) = [d for d in report.diagnostics if d.code == "failed_statement"]
    assert diag.severity is Severity.INFO
    assert diag.where == f"{FIX / 'mindur.csv'}:13"
    assert 'column "pan" does not exist' in diag.message


# ----------------------------------------------------------------- stderr


def test_stderr_log_statement_all_with_custom_prefix() -> None:
    events, report = read(FIX / "statement_all.log", STATEMENT_ALL_PREFIX)
    texts = [e.text for e in events]
    assert texts == [
        "CREATE TABLE t (id int, note text)",  # statement + bare duration: once
        'SET search_path TO public, "$user"',
        "INSERT INTO t VALUES ('1', 'it''s\nmulti')",  # parameter continued on a TAB line
        "INSERT INTO t VALUES ('2', NULL)",
        "SELECT 1\n  AS one,\n  2 AS two",  # statement continued on TAB lines
        "BEGIN",
        "INSERT INTO t VALUES (3, 'x')",
        "COMMIT",
        "SELECT id FROM t WHERE id = '1'",
        "SELECT id FROM t WHERE id = '2'",
    ]
    assert report.counts["failed_statements"] == 2  # a parse-time error, a statement's error
    create = events[0]
    assert (create.session_id, create.user, create.default_database) == (
        "6b077a30.1a44",
        "postgres",
        "postgres",
    )
    assert create.query_id == "1600169828141027643"  # from the duration line (statement: 0)
    assert line_of(create) == 5
    assert events[2].search_path == ("public", "$user")
    assert not [d for d in report.diagnostics if d.code == "bad_log_line"]


def test_stderr_statement_then_error_is_one_failure() -> None:
    _, report = read(FIX / "statement_all.log", STATEMENT_ALL_PREFIX)
    failed = [
        d.where.rsplit(":", 1)[1]
        for d in report.diagnostics
        if d.code == "failed_statement" and d.where
    ]
    assert failed == ["23", "26"]  # the ERROR line; the pending statement's own line


@pytest.mark.parametrize("prefix", [RDS_PREFIX, None])
def test_stderr_rds_prefix_explicit_or_detected(prefix: str | None) -> None:
    events, report = read(FIX / "rds_prefix.log", prefix)
    assert [line_of(e) for e in events] == [1, 6, 9]
    export, _, copy = events
    assert export.text.splitlines()[1] == "  'SELECT id, email FROM public.users',"
    assert (export.user, export.default_database, export.session_id) == (
        "etl_user",
        "appdb",
        "20431",
    )
    assert copy.search_path == ("reporting",)
    assert report.counts["failed_statements"] == 1


def test_prefix_regex_escapes() -> None:
    rx = prefix_regex("%m [%p] %q%u@%d %a ")
    assert rx.match("2025-01-14 10:00:00.123 UTC [7] LOG:  checkpoint starting: time")  # %q
    m = rx.match("2025-01-14 10:00:00.123 UTC [7] bob@db my app LOG:  statement: SELECT 1")
    assert m and m["user"] == "bob" and m["severity"] == "LOG"
    m = prefix_regex("%% %-8u|%c|%l|%v|%x|%e|%Q|%h|%r|%z ").match(
        "% alice   |6b0a.1f|3|3/4|0|00000|-42|10.0.0.1|10.0.0.1(5432)|?? ERROR:  boom"
    )
    assert m and (m["user"], m["session"], m["vxid"], m["query_id"]) == (
        "alice",
        "6b0a.1f",
        "3/4",
        "-42",
    )
    assert prefix_regex("%t ").match("2025-01-14 10:00:00 +03 LOG:  x")


def test_detect_prefix() -> None:
    sample = (FIX / "rds_prefix.log").read_text().splitlines()
    assert detect_prefix([line for line in sample if not line.startswith("\t")]) == RDS_PREFIX


# ----------------------------------------------------------------- SQL text helpers


def test_parameter_parsing_and_substitution() -> None:
    assert parse_parameters("parameters: $1 = 'a'', b', $2 = NULL, $10 = ''") == {
        1: "a', b",
        2: None,
        10: "",
    }
    assert parse_parameters("prepare: PREPARE x AS SELECT 1") is None
    text = "SELECT $1, $10, '$1', \"$1\", $$ $1 $$, $t$ $2 $t$ -- $1\n, x$1, $2 /* $1 */"
    out = substitute_parameters(text, {1: "v", 2: None, 10: "ten"})
    assert (
        out == "SELECT 'v', 'ten', '$1', \"$1\", $$ $1 $$, $t$ $2 $t$ -- $1\n, x$1, NULL /* $1 */"
    )


def test_search_path_forms() -> None:
    assert search_path_after("set SESSION search_path = 'My Schema', public") == (
        "My Schema",
        "public",
    )
    assert search_path_after("SET search_path TO DEFAULT") == ()
    assert search_path_after("SELECT set_config('search_path', 'a, \"B\"', false)") == ("a", "B")
    assert search_path_after("SET LOCAL search_path TO x") is None  # transaction-scoped
    assert search_path_after("SELECT 'search_path'") is None
    body = "CREATE FUNCTION f() RETURNS void AS $$ BEGIN; SET search_path TO x; END $$ LANGUAGE sql"
    assert search_path_after(body) is None  # runs when called, not now


# ----------------------------------------------------------------- bad input


def test_broken_csvlog_reports_and_goes_on() -> None:
    events, report = read(FIX / "broken.csv")
    assert [e.text for e in events] == [
        "SELECT 1",
        "SELECT 3",
        "SELECT 'caf\ufffd' AS latin1",
        "SELECT 6",
    ]
    assert codes(report) == [
        ("bad_log_line", "2"),  # truncated mid-field, ended by the next row
        ("bad_log_line", "4"),  # a line in no format
        ("invalid_encoding", "5"),
        ("bad_log_line", "6"),  # too few columns
        ("bad_log_line", "8"),  # truncated at end of file
    ]
    assert all(d.severity is Severity.WARNING for d in report.diagnostics)


def test_broken_stderr_and_jsonlog() -> None:
    events, report = read(FIX / "broken.log")
    assert [e.text for e in events] == ["SELECT 1", "SELECT 'caf\ufffd' AS latin1", "SELECT 3"]
    assert codes(report) == [("bad_log_line", "2"), ("invalid_encoding", "3")]
    events, report = read(FIX / "broken.json")
    assert [e.text for e in events] == ["SELECT 1", "SELECT 3"]
    assert codes(report) == [("bad_log_line", "2")]


def test_missing_file_raises_input_error_at_call(tmp_path: Path) -> None:
    missing = tmp_path / "nope.csv"
    with pytest.raises(InputError, match="nope.csv"):
        read_postgres_log(
            missing,
            namespace=None,
            default_database=None,
            log_line_prefix=None,
            report=CollectReport(),
        )


def test_diagnostics_are_capped_per_file(tmp_path: Path) -> None:
    log = tmp_path / "junk.log"
    log.write_text("garbage\n" * 60)
    _, report = read(log)
    assert report.counts["bad_log_line"] == 60
    assert len(report.diagnostics) == postgres_logs.MAX_DIAGNOSTICS_PER_CODE + 1
    assert "10 more" in report.diagnostics[-1].message


def test_format_sniffed_without_extension_and_gzip(tmp_path: Path) -> None:
    plain = tmp_path / "postgresql-2025-01-15"
    shutil.copyfile(FIX / "mindur.json", plain)
    packed = tmp_path / "postgresql.csv.gz"
    packed.write_bytes(gzip.compress((FIX / "mindur.csv").read_bytes()))
    assert len(read(plain)[0]) == 5
    assert len(read(packed)[0]) == 5


def test_truncated_parameters_skip_the_statement(tmp_path: Path) -> None:
    log = tmp_path / "cut.csv"
    detail = "parameters: $1 = 'SELECT id, email FRO...', $2 = 'bucket'"
    log.write_text(
        _row(
            1, "s.1", "3/1", "LOG", "duration: 1.0 ms  execute <unnamed>: SELECT f($1, $2)"
        ).replace(',,,,,,,,,"app"', f',"{detail}",,,,,,,,"app"')
    )
    events, report = read(log)
    assert events == []
    assert codes(report) == [("truncated_parameters", "1")]


def test_truncated_gzip_is_reported_not_raised(tmp_path: Path) -> None:
    packed = gzip.compress((FIX / "mindur.csv").read_bytes())
    log = tmp_path / "postgresql.csv.gz"
    log.write_bytes(packed[: len(packed) // 2])
    events, report = read(log)
    assert len(events) < 5
    assert "unreadable_file" in [code for code, _ in codes(report)]


# ----------------------------------------------------------------- sessions


def _row(line: int, sid: str, vxid: str, severity: str, message: str, query: str = "") -> str:
    q = lambda s: '"' + s.replace('"', '""') + '"' if s else ""
    return (
        f'2025-01-15 03:00:00.{line:03d} UTC,"u","db",1,"[local]",{sid},{line},"",'
        f"2025-01-15 03:00:00 UTC,{vxid},0,{severity},00000,{q(message)},,,,,,{q(query)},,,"
        '"app","client backend",,0\n'
    )


def test_error_decided_by_vxid_without_statement_field(tmp_path: Path) -> None:
    log = tmp_path / "v.csv"
    log.write_text(
        _row(1, "s.1", "3/5", "LOG", "statement: SELECT 1/0")
        + _row(2, "s.1", "3/5", "ERROR", "division by zero")  # same vxid: it failed
        + _row(3, "s.1", "3/6", "LOG", "statement: SELECT 2")
        + _row(4, "s.1", "3/9", "ERROR", "canceling autovacuum task")  # other vxid
        + _row(5, "s.2", "4/1", "LOG", "statement: SELECT 3")  # decided at end of file
    )
    events, report = read(log)
    assert [e.text for e in events] == ["SELECT 2", "SELECT 3"]
    assert report.counts["failed_statements"] == 1


def test_sessions_beyond_cap_are_flushed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(postgres_logs, "MAX_SESSIONS", 2)
    log = tmp_path / "many.csv"
    log.write_text(
        "".join(_row(i, f"s.{i}", "3/1", "LOG", f"statement: SELECT {i}") for i in range(1, 6))
    )
    events, _ = read(log)
    assert sorted(e.text for e in events) == [f"SELECT {i}" for i in range(1, 6)]


# ----------------------------------------------------------------- the generated demo


@pytest.mark.slow
@pytest.mark.parametrize("name", ["postgresql.csv", "postgresql.json", "postgresql.log"])
def test_demo_logs_hold_the_demo_exports(name: str) -> None:
    prefix = "%m [%p] %q%u@%d %a " if name.endswith(".log") else None
    events, report = read(DEMO / name, prefix, default_database="appdb")
    flat = [" ".join(e.text.split()) for e in events]
    users = [t for t in flat if "exports/users/dt=" in t]
    assert [t.split("dt=")[1][:10] for t in users] == ["2025-01-14", "2025-01-15", "2025-01-16"]
    programs = [
        t for t in flat if "TO PROGRAM 'aws s3 cp - s3://fintech-lake/exports/transactions/" in t
    ]
    assert len(programs) == 2
    (merchants,) = [e for e in events if "exports/merchants/merchants.csv" in e.text]
    assert "$1" not in merchants.text
    assert "'SELECT id, name, category, country FROM public.merchants'" in merchants.text
    assert sum(t.startswith("SELECT * FROM aws_s3.query_export_to_s3(") for t in flat) == 7
    assert any("'(fintech-lake,exports/audit_log/audit_log.csv,us-east-1)'" in t for t in flat)
    (accounts,) = [e for e in events if "exports/accounts/" in e.text]
    assert accounts.search_path == ("public",)
    assert not any("exports/cards/" in t for t in flat)
    assert report.counts["failed_statements"] == 1
    assert not [d for d in report.diagnostics if d.severity is not Severity.INFO]
