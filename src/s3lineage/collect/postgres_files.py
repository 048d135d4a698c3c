"""Readers for exports taken from a PostgreSQL server with ``\\copy`` (CSV with a header,
or JSON lines; rows are read by :func:`s3lineage.collect.tabular.read_rows`).

- pg_stat_statements: one QueryEvent per top-level entry. Entries whose ``aws_s3`` call
  was normalized to ``$n`` placeholders lost their bucket, key and inner query, so they
  become a diagnostic telling the user to read the server logs instead.
- information_schema.columns: table columns for the :class:`Catalog`.

Both accept any header case and extra columns, stream row by row, and report bad rows
as diagnostics naming file and line.
"""

from __future__ import annotations

import re
from collections.abc import Container, Iterator
from pathlib import Path
from typing import Protocol

from s3lineage.collect import CollectReport
from s3lineage.collect.postgres_logs import SQL_TOKENS
from s3lineage.collect.tabular import Row, cell, parse_int, read_rows
from s3lineage.model import Dialect, QueryEvent, Severity
from s3lineage.resolve.schema import Catalog

_AWS_S3_CALL = re.compile(
    r'"?aws_s3"?\s*\.\s*"?(?:query_export_to_s3|table_import_from_s3)"?\s*\(', re.IGNORECASE
)
_TRUE = frozenset({"t", "true", "1", "yes", "y", "on"})
_COLUMNS_REQUIRED = ("TABLE_CATALOG", "TABLE_SCHEMA", "TABLE_NAME", "COLUMN_NAME",
                     "ORDINAL_POSITION")
_NORMALIZED_FIX = (
    "pg_stat_statements replaced this aws_s3 call's literals with $n placeholders, so its "
    "bucket, key and inner query are lost. Fix: set log_min_duration_statement = 0 (or "
    "log_statement = 'all') with log_parameter_max_length = -1 and point s3lineage at the "
    "server logs."
)


def _rows(path: str | Path, report: CollectReport,
          required: tuple[str, ...]) -> Iterator[tuple[int, Row]]:
    """read_rows, stopping with ``missing_column`` when the first row lacks a required key."""
    rows = read_rows(path, report)  # raises InputError now if the file is missing
    return _checked(Path(path), rows, report, required)


def _checked(path: Path, rows: Iterator[tuple[int, Row]], report: CollectReport,
             required: tuple[str, ...]) -> Iterator[tuple[int, Row]]:
    for line, row in rows:
        if missing := [c.lower() for c in required if c not in row]:
            report.add("missing_column", Severity.ERROR,
                       f"export lacks column(s) {', '.join(missing)}; file skipped",
                       f"{path}:{line}")
            return
        required = ()  # the header is the same for every row
        yield line, row


def has_normalized_aws_s3_call(text: str) -> bool:
    """Whether a ``$n`` placeholder sits inside an ``aws_s3.query_export_to_s3(`` /
    ``table_import_from_s3(`` call (outside literals and comments).

    >>> has_normalized_aws_s3_call("SELECT * FROM aws_s3.query_export_to_s3($1, $2, $3)")
    True
    >>> has_normalized_aws_s3_call("SELECT $1, aws_s3.query_export_to_s3('q', 'b', 'k')")
    False
    """
    opens = {m.end() - 1 for m in _AWS_S3_CALL.finditer(text)}
    if not opens:
        return False
    depth, call_depth = 0, None
    for tok in SQL_TOKENS.finditer(text):
        if tok["n"] is not None and call_depth is not None:
            return True
        if tok["paren"] == "(":
            if call_depth is None and tok.start() in opens:
                call_depth = depth
            depth += 1
        elif tok["paren"] == ")":
            depth -= 1
            if depth == call_depth:
                call_depth = None
    return False


class LoggedStatements(Protocol):
    """What the server log already gave in this run (the pipeline keeps it): by query id
    when the log has one, else by the statement's normalized shape."""

    def seen(self, query_id: str | None, text: str) -> bool: ...


def _already_logged(logged: LoggedStatements | Container[str], query_id: str | None, text: str) -> bool:
    if hasattr(logged, "seen"):
        return logged.seen(query_id, text)  # type: ignore[union-attr]
    return bool(query_id) and query_id in logged  # type: ignore[operator]


def read_pg_stat_statements_csv(
    path: str | Path, *, namespace: str | None, default_database: str | None,
    report: CollectReport, logged_query_ids: LoggedStatements | Container[str] = (),
) -> Iterator[QueryEvent]:
    """Stream an export of pg_stat_statements as QueryEvents.

    Columns used (any case): ``query`` (required), ``queryid``, ``toplevel`` (rows with a
    false value are nested statements and skipped), ``usename``/``userid``, ``datname``,
    ``calls``, ``rows``. Rows the server log already gave (``logged_query_ids``: query ids,
    or a :class:`LoggedStatements` that also matches by shape) are counted as
    ``pgss_rows_in_logs`` and yielded anyway: the caller must not count their runs twice
    (the log gave each execution with its literals), but their ``rows`` — which logs do not
    report — belong to those executions. Raises InputError at once if the file cannot be read.
    """
    rows = _rows(path, report, ("QUERY",))
    return _pgss_events(Path(path), rows, namespace, default_database, report, logged_query_ids)


def _pgss_events(path: Path, rows: Iterator[tuple[int, Row]], namespace: str | None,
                 default_database: str | None, report: CollectReport,
                 logged_query_ids: LoggedStatements | Container[str] = ()) -> Iterator[QueryEvent]:
    source = f"pg_stat_statements:{path.name}"
    for line, row in rows:
        if not _is_toplevel(row.get("TOPLEVEL")):
            report.count("nested_statements")
            continue
        text, query_id = cell(row, "QUERY"), cell(row, "QUERYID")
        if text is None:
            continue
        logged = _already_logged(logged_query_ids, query_id, text)
        if logged:
            # still yielded: the caller must not count its runs again, but its rows (which
            # the log does not report) belong to the logged executions
            report.count("pgss_rows_in_logs")
        elif has_normalized_aws_s3_call(text):
            report.count("normalized_parameters")
            report.add("normalized_parameters", Severity.WARNING,
                       f"queryid {query_id}: {_NORMALIZED_FIX}", f"{path}:{line}")
            continue
        yield QueryEvent(
            text=text, dialect=Dialect.POSTGRES, source=source, location=f"{path}:{line}",
            query_id=query_id, user=cell(row, "USENAME", "ROLNAME", "USERID"),
            # dbid alone is an oid, not a name: fall back on the configured database
            default_database=cell(row, "DATNAME") or default_database,
            calls=parse_int(row.get("CALLS")) or 1, rows=_moved_rows(text, row),
            namespace=namespace,
        )


def _moved_rows(text: str, row: Row) -> int | None:
    """pg_stat_statements ``rows`` as rows moved: for COPY, INSERT … it is what was copied or
    written; for a SELECT (``SELECT * FROM aws_s3.query_export_to_s3(…)``) it is the result
    rows — one per call — not the rows exported, so it says nothing."""
    if re.match(r"\s*(?:/\*.*?\*/\s*|--[^\n]*\n\s*)*SELECT\b", text, re.IGNORECASE | re.DOTALL):
        return None
    return parse_int(row.get("ROWS"))


def _is_toplevel(value: object) -> bool:
    if value is None or value == "":  # PG13 and older have no toplevel column
        return True
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in _TRUE


def read_pg_columns_csv(
    path: str | Path, *, report: CollectReport,
) -> Iterator[tuple[tuple[str, str, str], str, int]]:
    """Stream ``((catalog, schema, table), column, ordinal_position)`` from an export of
    information_schema.columns. Raises InputError at once if the file cannot be read."""
    rows = _rows(path, report, _COLUMNS_REQUIRED)
    return _columns(Path(path), rows, report)


def _columns(path: Path, rows: Iterator[tuple[int, Row]],
             report: CollectReport) -> Iterator[tuple[tuple[str, str, str], str, int]]:
    for line, row in rows:
        names = [cell(row, key) or "" for key in _COLUMNS_REQUIRED[:4]]
        ordinal = parse_int(row.get("ORDINAL_POSITION"))
        if ordinal is None or not names[2] or not names[3]:
            report.add("bad_row", Severity.WARNING,
                       "row lacks table_name, column_name or a numeric ordinal_position",
                       f"{path}:{line}")
            continue
        yield (names[0], names[1], names[2]), names[3], ordinal


def load_pg_columns(path: str | Path, catalog: Catalog, report: CollectReport) -> int:
    """Add every column of an information_schema.columns export to ``catalog``; returns
    how many were read."""
    n = 0
    for table, column, ordinal in read_pg_columns_csv(path, report=report):
        catalog.add_column(table, column, ordinal)
        n += 1
    return n
