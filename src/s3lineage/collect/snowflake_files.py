"""Snowflake collectors that read exported ACCOUNT_USAGE / INFORMATION_SCHEMA tables.

Each reader takes one CSV or JSON-lines export (see :mod:`s3lineage.collect.tabular`)
and streams typed records; bad rows become diagnostics in the :class:`CollectReport`.

- :func:`read_query_history` — ``ACCOUNT_USAGE.QUERY_HISTORY`` (or the
  ``INFORMATION_SCHEMA.QUERY_HISTORY()`` function) → :class:`QueryEvent`.
  https://docs.snowflake.com/sql-reference/account-usage/query_history
- :func:`read_copy_history` — ``COPY_HISTORY`` → :class:`CopyLoad`, one per file loaded.
  It is the only record of Snowpipe loads, which never appear in QUERY_HISTORY.
  https://docs.snowflake.com/sql-reference/account-usage/copy_history
- :func:`read_stages` — ``SHOW STAGES`` or ``INFORMATION_SCHEMA.STAGES`` → :class:`StageInfo`.
- :func:`read_snowflake_columns` / :func:`load_snowflake_columns` —
  ``INFORMATION_SCHEMA.COLUMNS`` → :class:`TableColumn` / a :class:`Catalog`.

Every reader checks the file exists when called (raising :class:`InputError`), not when
first iterated.

The ``*_from_row`` functions (and :func:`drop_query_row`) map one row with upper-case
keys to a record; the live source (:mod:`s3lineage.collect.live_snowflake`) uses them
too, so exports and live reads of the same account give the same records.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from s3lineage.collect import CollectReport
from s3lineage.collect.tabular import Row, cell, parse_int, parse_timestamp, read_rows
from s3lineage.model import Dialect, QueryEvent, Severity
from s3lineage.naming import join_s3
from s3lineage.resolve.schema import Catalog

# QUERY_TYPEs that cannot read or write a dataset. SELECT stays: ``SELECT … FROM @stage``
# reads S3. PUT/GET/LIST only touch internal stages, which have no S3 lineage.
NON_LINEAGE_QUERY_TYPES: frozenset[str] = frozenset(
    {
        "SHOW",
        "DESCRIBE",
        "DESCRIBE_QUERY",
        "EXPLAIN",
        "USE",
        "ALTER_SESSION",
        "GET_FILES",
        "PUT_FILES",
        "LIST_FILES",
        "REMOVE_FILES",
        "COMMIT",
        "ROLLBACK",
        "BEGIN_TRANSACTION",
    }
)


# --- QUERY_HISTORY ----------------------------------------------------------------------


def read_query_history(
    path: Path | str,
    *,
    namespace: str | None = None,
    report: CollectReport,
    skip_query_types: Collection[str] = NON_LINEAGE_QUERY_TYPES,
) -> Iterator[QueryEvent]:
    """Successful statements of a QUERY_HISTORY export, as Snowflake QueryEvents.

    Dropped rows are counted in ``report.counts``: ``failed_statements`` (EXECUTION_STATUS
    other than SUCCESS; an info ``failed_statement`` diagnostic each),
    ``skipped_statements`` (QUERY_TYPE in ``skip_query_types``; pass ``()`` to keep all)
    and ``duplicate_statements`` (a QUERY_ID seen before, as overlapping pages of the
    QUERY_HISTORY() table function produce). A row without EXECUTION_STATUS counts as
    successful, since exports filtered on status often drop the column.
    """
    path = Path(path)
    rows = read_rows(path, report)
    skip = frozenset(t.upper() for t in skip_query_types)
    return _query_events(path, rows, namespace, report, skip)


def _query_events(
    path: Path,
    rows: Iterator[tuple[int, Row]],
    namespace: str | None,
    report: CollectReport,
    skip: frozenset[str],
) -> Iterator[QueryEvent]:
    seen: set[str] = set()
    source = f"snowflake:{path.name}"
    for line, row in _require(rows, path, report, ("QUERY_TEXT",)):
        where = f"{path}:{line}"
        if drop_query_row(row, report, where, skip):
            continue
        query_id = cell(row, "QUERY_ID")
        if query_id:
            if query_id in seen:
                report.count("duplicate_statements")
                continue
            seen.add(query_id)
        event = query_event_from_row(
            row, source=source, location=where, namespace=namespace, report=report
        )
        if event is not None:
            yield event


def drop_query_row(row: Row, report: CollectReport, where: str, skip: frozenset[str]) -> bool:
    """True (counted, and a diagnostic for failures) when a QUERY_HISTORY row is not lineage.

    Shared by the export reader and the live source so both drop the same rows and keep
    the same counters: ``skipped_statements`` for QUERY_TYPEs in ``skip`` (upper-case),
    ``failed_statements`` for EXECUTION_STATUS other than SUCCESS (missing means SUCCESS).
    ``row`` has upper-case keys.
    """
    if (cell(row, "QUERY_TYPE") or "").strip().upper() in skip:
        report.count("skipped_statements")
        return True
    status = (cell(row, "EXECUTION_STATUS") or "SUCCESS").strip().upper()
    if status == "SUCCESS":
        return False
    report.count("failed_statements")
    report.add(
        "failed_statement",
        Severity.INFO,
        f"query {cell(row, 'QUERY_ID') or '?'} has EXECUTION_STATUS {status}; skipped",
        where,
    )
    return True


def query_event_from_row(
    row: Row, *, source: str, location: str, namespace: str | None, report: CollectReport
) -> QueryEvent | None:
    """The QueryEvent of one QUERY_HISTORY row (upper-case keys); None without QUERY_TEXT.

    A row without text gets an ``empty_statement`` warning at ``location``.
    """
    text = cell(row, "QUERY_TEXT")
    if text is None:
        report.add(
            "empty_statement",
            Severity.WARNING,
            f"query {cell(row, 'QUERY_ID') or '?'} has no QUERY_TEXT; skipped",
            location,
        )
        return None
    return QueryEvent(
        text=text,
        dialect=Dialect.SNOWFLAKE,
        source=source,
        location=location,
        query_id=cell(row, "QUERY_ID"),
        session_id=cell(row, "SESSION_ID"),
        user=cell(row, "USER_NAME"),
        time=parse_timestamp(cell(row, "START_TIME", "END_TIME")),
        default_database=cell(row, "DATABASE_NAME"),
        default_schema=cell(row, "SCHEMA_NAME"),
        namespace=namespace,
        rows=_rows_written(row),
    )


def _rows_written(row: Row) -> int | None:
    """Rows the statement moved: the first positive of unloaded, inserted, produced.

    An UNLOAD also "produces" one result row and an INSERT reports ROWS_PRODUCED too, so
    the first positive count in this order is the meaningful one; 0 when all are 0.
    """
    counts = [parse_int(row.get(k)) for k in ("ROWS_UNLOADED", "ROWS_INSERTED", "ROWS_PRODUCED")]
    known = [c for c in counts if c is not None]
    return next((c for c in known if c > 0), known[0] if known else None)


# --- COPY_HISTORY -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CopyLoad:
    """One file loaded (or not) into a table, as COPY_HISTORY records it.

    Rows with STATUS ``Load failed`` (or ``Load skipped``) are yielded too, so callers
    can report them; they moved no data, so the graph must skip them: see :attr:`loaded`.
    """

    file_name: str  # relative to stage_location
    stage_location: str | None  # the stage's s3:// URL for external stages
    table: tuple[str, ...]  # (db, schema, table) as stored; missing leading parts dropped
    pipe: str | None  # "DB.SCHEMA.PIPE" for Snowpipe loads, None for bulk COPY
    last_load_time: datetime | None
    row_count: int | None
    row_parsed: int | None
    file_size: int | None
    status: str | None  # as stored: Loaded | Load failed | Partially loaded | …
    error_count: int | None
    first_error: str | None
    location: str  # "file:line" of the export row
    pipe_received_time: datetime | None = None

    @property
    def loaded(self) -> bool:
        """False when STATUS says no row reached the table (``Load failed``/``skipped``)."""
        status = (self.status or "").replace("_", " ").strip().upper()
        return status not in {"LOAD FAILED", "LOAD SKIPPED"}

    @property
    def url(self) -> str | None:
        """The file's full URL when STAGE_LOCATION is a URL (external stage or direct load)."""
        if "://" in self.file_name:
            return self.file_name
        if self.stage_location and "://" in self.stage_location:
            return join_s3(self.stage_location, self.file_name)
        return None


def read_copy_history(path: Path | str, *, report: CollectReport) -> Iterator[CopyLoad]:
    """Per-file loads of a COPY_HISTORY export (bulk COPY and Snowpipe).

    Rows without FILE_NAME or TABLE_NAME get a ``bad_row`` warning and are skipped.
    """
    path = Path(path)
    rows = read_rows(path, report)
    return _copy_loads(path, rows, report)


def _copy_loads(
    path: Path, rows: Iterator[tuple[int, Row]], report: CollectReport
) -> Iterator[CopyLoad]:
    for line, row in _require(rows, path, report, ("FILE_NAME",), ("TABLE_NAME",)):
        load = copy_load_from_row(row, f"{path}:{line}", report)
        if load is not None:
            yield load


def copy_load_from_row(row: Row, location: str, report: CollectReport) -> CopyLoad | None:
    """The CopyLoad of one COPY_HISTORY row (upper-case keys).

    None, with a ``bad_row`` warning at ``location``, without FILE_NAME or TABLE_NAME.
    """
    file_name, table = cell(row, "FILE_NAME"), cell(row, "TABLE_NAME")
    if file_name is None or table is None:
        report.add(
            "bad_row",
            Severity.WARNING,
            "COPY_HISTORY row without FILE_NAME or TABLE_NAME; skipped",
            location,
        )
        return None
    return CopyLoad(
        file_name=file_name,
        stage_location=cell(row, "STAGE_LOCATION"),
        table=_parts(cell(row, "TABLE_CATALOG_NAME"), cell(row, "TABLE_SCHEMA_NAME"), table),
        pipe=_pipe_name(row),
        last_load_time=parse_timestamp(cell(row, "LAST_LOAD_TIME")),
        row_count=parse_int(row.get("ROW_COUNT")),
        row_parsed=parse_int(row.get("ROW_PARSED")),
        file_size=parse_int(row.get("FILE_SIZE")),
        status=cell(row, "STATUS"),
        error_count=parse_int(row.get("ERROR_COUNT")),
        first_error=cell(row, "FIRST_ERROR_MESSAGE", "FIRST_ERROR"),
        location=location,
        pipe_received_time=parse_timestamp(cell(row, "PIPE_RECEIVED_TIME")),
    )


def _pipe_name(row: Row) -> str | None:
    name = cell(row, "PIPE_NAME")
    if name is None:
        return None
    return ".".join(_parts(cell(row, "PIPE_CATALOG_NAME"), cell(row, "PIPE_SCHEMA_NAME"), name))


# --- stages -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StageInfo:
    """A named stage; names are exactly as stored (unquoted ones come back upper-case)."""

    database: str | None
    schema: str | None
    name: str
    url: str | None  # None for internal stages
    type: str | None  # INTERNAL | EXTERNAL (SHOW STAGES), 'External Named' (INFORMATION_SCHEMA)
    created_on: datetime | None
    storage_integration: str | None
    location: str  # "file:line" of the export row

    @property
    def parts(self) -> tuple[str, ...]:
        """``(db, schema, stage)``, dropping missing leading parts."""
        return _parts(self.database, self.schema, self.name)

    @property
    def qualified_name(self) -> str:
        return ".".join(self.parts)


def read_stages(path: Path | str, *, report: CollectReport) -> Iterator[StageInfo]:
    """Stages from a SHOW STAGES export or an INFORMATION_SCHEMA.STAGES export."""
    path = Path(path)
    rows = read_rows(path, report)
    return _stages(path, rows, report)


def _stages(
    path: Path, rows: Iterator[tuple[int, Row]], report: CollectReport
) -> Iterator[StageInfo]:
    for line, row in _require(rows, path, report, ("NAME", "STAGE_NAME")):
        stage = stage_from_row(row, f"{path}:{line}", report)
        if stage is not None:
            yield stage


def stage_from_row(row: Row, location: str, report: CollectReport) -> StageInfo | None:
    """The StageInfo of one SHOW STAGES or INFORMATION_SCHEMA.STAGES row (upper-case keys).

    None, with a ``bad_row`` warning at ``location``, without a name.
    """
    name = cell(row, "NAME", "STAGE_NAME")
    if name is None:
        report.add("bad_row", Severity.WARNING, "stage row without a name; skipped", location)
        return None
    return StageInfo(
        database=cell(row, "DATABASE_NAME", "STAGE_CATALOG"),
        schema=cell(row, "SCHEMA_NAME", "STAGE_SCHEMA"),
        name=name,
        url=parse_stage_url(cell(row, "URL", "STAGE_URL")),
        type=cell(row, "TYPE", "STAGE_TYPE"),
        created_on=parse_timestamp(cell(row, "CREATED_ON", "CREATED")),
        storage_integration=cell(row, "STORAGE_INTEGRATION"),
        location=location,
    )


def parse_stage_url(value: str | None) -> str | None:
    """A stage URL from SHOW STAGES (plain) or DESC STAGE (a JSON-array string).

    >>> parse_stage_url('["s3://b/p/"]'), parse_stage_url(" s3://b/p/ "), parse_stage_url("")
    ('s3://b/p/', 's3://b/p/', None)
    """
    text = (value or "").strip()
    if text.startswith("["):
        try:
            urls = json.loads(text)
        except json.JSONDecodeError:
            urls = [text.strip("[]\"' ")]
        text = str(urls[0]).strip() if isinstance(urls, list) and urls else ""
    return text or None


# --- pipes ------------------------------------------------------------------------------


def pipe_event_from_row(
    row: Row, *, source: str, location: str, namespace: str | None, report: CollectReport
) -> QueryEvent | None:
    """One SHOW PIPES row (upper-case keys) as a ``CREATE OR REPLACE PIPE … AS <COPY>`` event.

    Snowpipe loads never appear in QUERY_HISTORY; the pipe's COPY definition is what maps
    its COPY_HISTORY rows to a table, so it is resolved like a statement. ``calls=0``
    marks it a definition, not an execution. None, with a ``bad_row`` warning, without a
    name or definition.
    """
    name = cell(row, "NAME", "PIPE_NAME")
    definition = cell(row, "DEFINITION")
    if not name or not definition:
        report.add(
            "bad_row", Severity.WARNING, "SHOW PIPES row without name or definition", location
        )
        return None
    database = cell(row, "DATABASE_NAME", "PIPE_CATALOG")
    schema = cell(row, "SCHEMA_NAME", "PIPE_SCHEMA")
    qualified = ".".join(f'"{p}"' for p in (database, schema, name) if p)
    return QueryEvent(
        text=f"CREATE OR REPLACE PIPE {qualified} AS {definition}",
        dialect=Dialect.SNOWFLAKE,
        source=source,
        location=location,
        default_database=database,
        default_schema=schema,
        namespace=namespace,
        calls=0,
    )


# --- INFORMATION_SCHEMA.COLUMNS ---------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TableColumn:
    """One row of INFORMATION_SCHEMA.COLUMNS."""

    table: tuple[str, ...]  # (db, schema, table) as stored
    name: str
    ordinal: int | None
    data_type: str | None
    location: str


def read_snowflake_columns(path: Path | str, *, report: CollectReport) -> Iterator[TableColumn]:
    """Columns of an INFORMATION_SCHEMA.COLUMNS export (TABLE_CATALOG … ORDINAL_POSITION)."""
    path = Path(path)
    rows = read_rows(path, report)
    return _columns(path, rows, report)


def _columns(
    path: Path, rows: Iterator[tuple[int, Row]], report: CollectReport
) -> Iterator[TableColumn]:
    for line, row in _require(rows, path, report, ("TABLE_NAME",), ("COLUMN_NAME",)):
        column = table_column_from_row(row, f"{path}:{line}", report)
        if column is not None:
            yield column


def table_column_from_row(row: Row, location: str, report: CollectReport) -> TableColumn | None:
    """The TableColumn of one INFORMATION_SCHEMA.COLUMNS row (upper-case keys).

    None, with a ``bad_row`` warning at ``location``, without TABLE_NAME or COLUMN_NAME.
    """
    table, column = cell(row, "TABLE_NAME"), cell(row, "COLUMN_NAME")
    if table is None or column is None:
        report.add(
            "bad_row",
            Severity.WARNING,
            "column row without TABLE_NAME or COLUMN_NAME; skipped",
            location,
        )
        return None
    return TableColumn(
        table=_parts(cell(row, "TABLE_CATALOG"), cell(row, "TABLE_SCHEMA"), table),
        name=column,
        ordinal=parse_int(row.get("ORDINAL_POSITION")),
        data_type=cell(row, "DATA_TYPE"),
        location=location,
    )


def load_snowflake_columns(path: Path | str, catalog: Catalog, report: CollectReport) -> int:
    """Add an INFORMATION_SCHEMA.COLUMNS export to ``catalog``; returns columns read."""
    n = 0
    for column in read_snowflake_columns(path, report=report):
        catalog.add_column(column.table, column.name, column.ordinal)
        n += 1
    return n


# --- shared -----------------------------------------------------------------------------


def _parts(*parts: str | None) -> tuple[str, ...]:
    return tuple(p.strip() for p in parts if p and p.strip())


def _require(
    rows: Iterator[tuple[int, Row]], path: Path, report: CollectReport, *columns: tuple[str, ...]
) -> Iterator[tuple[int, Row]]:
    """Pass rows through if the first one has each required column (any of its aliases).

    A file without them is the wrong export: one ``missing_column`` error instead of a
    warning per row.
    """
    first = next(rows, None)
    if first is None:
        return
    missing = [alts[0] for alts in columns if not any(a in first[1] for a in alts)]
    if missing:
        report.add(
            "missing_column",
            Severity.ERROR,
            f"no {', '.join(missing)} column (found: {', '.join(first[1])}); file skipped",
            str(path),
        )
        return
    yield first
    yield from rows
