"""Live Snowflake source: reads ACCOUNT_USAGE history incrementally through the connector.

Implements :class:`~s3lineage.collect.live.LiveSource` with snowflake-connector-python
(the ``snowflake`` extra). Rows become records through the same ``*_from_row`` functions
as the export readers in :mod:`s3lineage.collect.snowflake_files`; every SQL text is in
:mod:`s3lineage.collect.snowflake_sql`; settings, credentials and error messages are in
:mod:`s3lineage.collect.snowflake_connect`.

Incremental reads. ``SNOWFLAKE.ACCOUNT_USAGE`` views lag 45 minutes to 3 hours, so a row
can appear after rows with a later END_TIME were already read. Each run therefore starts
``overlap_minutes`` (default 180) before the watermark and skips rows it has already
seen. The cursor holds, per view::

    {"query_history": {"watermark": "2025-01-15T10:02:00.000007+00:00",
                       "seen": ["01b2…", …]},
     "copy_history":  {"watermark": "…", "seen": ["RAW.PUBLIC.T/f.csv@2025-…", …]}}

- ``watermark``: the latest END_TIME (LAST_LOAD_TIME) read, ISO 8601 UTC.
- ``seen``: keys of rows whose time is within the overlap of the watermark (older ones
  are pruned: the next window cannot reach them). QUERY_HISTORY keys are QUERY_IDs;
  COPY_HISTORY has no id, so its key is ``db.schema.table/file@last_load_time``: a file
  loaded again (``FORCE=TRUE``) into the same table is a new row with a new time.

The cursor is updated row by row just before a record is yielded (or a row is dropped),
never ahead of what the caller has received, so a caller that stops early and saves the
cursor loses nothing. A late row older than ``watermark - overlap`` is missed: widen
``overlap_minutes`` when the account's latency is longer.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from s3lineage.collect import CollectReport, snowflake_sql
from s3lineage.collect.live import Cursor, SourceError
from s3lineage.collect.snowflake_connect import (
    Connect,
    ConnectionSettings,
    connect_error,
    connect_params,
    connector_errors,
    default_connect,
    query_error,
    secrets,
)
from s3lineage.collect.snowflake_files import (
    NON_LINEAGE_QUERY_TYPES,
    CopyLoad,
    StageInfo,
    copy_load_from_row,
    drop_query_row,
    pipe_event_from_row,
    query_event_from_row,
    stage_from_row,
    table_column_from_row,
)
from s3lineage.collect.tabular import Row, cell, parse_timestamp
from s3lineage.config import SourceConfig
from s3lineage.model import QueryEvent, Severity
from s3lineage.resolve.schema import Catalog

DEFAULT_OVERLAP_MINUTES = 180  # ACCOUNT_USAGE latency is up to 3 h for some views
DEFAULT_PAGE_SIZE = 10_000
DEFAULT_LOOKBACK_DAYS = 7

Clock = Callable[[], datetime]


@dataclass(frozen=True, slots=True)
class ReadSettings:
    """How much history to read and in what page size."""

    overlap: timedelta
    page_size: int
    lookback: timedelta
    databases: tuple[str, ...]  # as configured; empty = every database SHOW DATABASES lists

    @classmethod
    def resolve(cls, source: SourceConfig) -> ReadSettings:
        get = source.settings.get
        overlap = _number(
            source, "overlap_minutes", get("overlap_minutes"), DEFAULT_OVERLAP_MINUTES, 0
        )
        page = _number(source, "page_size", get("page_size"), DEFAULT_PAGE_SIZE, 1)
        days = _number(
            source, "initial_lookback_days", get("initial_lookback_days"), DEFAULT_LOOKBACK_DAYS, 0
        )
        databases = get("databases") or ()
        if isinstance(databases, str):
            databases = (databases,)
        if not all(isinstance(d, str) and d for d in databases):
            raise SourceError(
                source.name,
                "databases must be a list of database names",
                'set e.g. databases = ["RAW", "ANALYTICS"]',
            )
        return cls(timedelta(minutes=overlap), int(page), timedelta(days=days), tuple(databases))


def _number(source: SourceConfig, key: str, value: Any, default: float, minimum: float) -> float:
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < minimum:
        raise SourceError(
            source.name,
            f"{key} must be a number ≥ {minimum}, not {value!r}",
            f"fix `{key}` in lineage.toml or remove it (default {default})",
        )
    return value


class _Incremental:
    """The watermark and seen keys of one history view, kept in the caller's cursor.

    ``seen`` stays a plain JSON list (mutated in place) so the cursor is serializable at
    any moment. Keys read in earlier runs have no stored time; they are treated as if at
    the old watermark, the latest they can be, so pruning never drops one too early.
    """

    def __init__(self, cursor: Cursor, view: str, overlap: timedelta) -> None:
        state = cursor.get(view)
        if not isinstance(state, dict):
            state = cursor[view] = {}
        self._state = state
        self._overlap = overlap
        self.watermark = parse_timestamp(state.get("watermark")) if state.get("watermark") else None
        seen = state.get("seen")
        if not isinstance(seen, list) or not self.watermark:
            seen = state["seen"] = []
        self._seen = seen
        self._keys = set(seen)
        # Parallel to seen; a list, not a deque, because pruning indexes into it.
        self._times: list[datetime] = [self.watermark] * len(seen) if self.watermark else []
        self._stale = 0  # entries at the head of seen that fell out of the overlap

    def window_start(self, now: datetime, lookback: timedelta, since: datetime | None) -> datetime:
        """Watermark minus overlap; on a first run ``since`` or now minus the lookback.
        ``since`` bounds the start in every case."""
        since = parse_timestamp(since)  # a naive datetime means UTC, as everywhere else
        if self.watermark is None:
            start = since if since is not None else now - lookback
        else:
            start = self.watermark - self._overlap
        if since is not None:
            start = max(start, since)
        return start

    def seen(self, key: str) -> bool:
        return key in self._keys

    def mark(self, key: str, time: datetime) -> None:
        """Record a row as read: advance the watermark, remember the key, prune."""
        if self.watermark is None or time > self.watermark:
            self.watermark = time
            self._state["watermark"] = time.isoformat()
        self._seen.append(key)
        self._keys.add(key)
        self._times.append(time)
        horizon = self.watermark - self._overlap
        while self._stale < len(self._times) and self._times[self._stale] < horizon:
            self._stale += 1
        # Cut the list in batches: deleting its head one key at a time is quadratic.
        if self._stale >= 1024 and self._stale * 2 >= len(self._seen):
            self.flush()

    def flush(self) -> None:
        """Drop the keys that fell out of the overlap window from the cursor."""
        for key in self._seen[: self._stale]:
            self._keys.discard(key)
        del self._seen[: self._stale]
        del self._times[: self._stale]
        self._stale = 0


class SnowflakeLiveSource:
    """A Snowflake account read through ``snowflake.connector`` (see the module doc).

    ``connect`` defaults to ``snowflake.connector.connect``; tests inject fakesnow's patched
    one or a double. ``environ`` (default ``os.environ``) supplies ``SNOWFLAKE_*``
    variables and the secrets; ``clock`` gives "now" for the first run's lookback. The
    connection opens on first use. Every method raises :class:`SourceError` on failure.
    """

    def __init__(
        self,
        source: SourceConfig,
        report: CollectReport,
        connect: Connect | None = None,
        *,
        environ: Mapping[str, str] | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.name = source.name
        self.namespace = source.namespace
        self._report = report
        self._connect = connect
        self._environ = os.environ if environ is None else environ
        self._clock = clock or (lambda: datetime.now(UTC))
        self._label = f"snowflake-live:{source.name}"
        self.settings = ConnectionSettings.resolve(source, self._environ)
        self.read = ReadSettings.resolve(source)
        self._conn: Any = None

    # --- LiveSource -----------------------------------------------------------------

    def events(self, cursor: Cursor, *, since: datetime | None = None) -> Iterator[QueryEvent]:
        """Successful statements from ACCOUNT_USAGE.QUERY_HISTORY since the cursor.

        Counts like the export reader: ``failed_statements`` (with an info diagnostic),
        ``skipped_statements`` (lineage-free QUERY_TYPEs); rows re-read inside the overlap
        window count as ``already_seen_statements``.
        """
        state = _Incremental(cursor, "query_history", self.read.overlap)
        start = state.window_start(self._clock(), self.read.lookback, since)
        skip = frozenset(t.upper() for t in NON_LINEAGE_QUERY_TYPES)
        sql = snowflake_sql.QUERY_HISTORY_PAGE
        for row, key, time in self._pages(sql, start, "QUERY_HISTORY", own_tag=True):
            if state.seen(key):
                self._report.count("already_seen_statements")
                continue
            event = self._query_event(row, key, skip)
            state.mark(key, time)
            if event is not None:
                yield event
        state.flush()

    def copy_loads(self, cursor: Cursor, *, since: datetime | None = None) -> Iterator[CopyLoad]:
        """Per-file loads (bulk COPY and Snowpipe) from ACCOUNT_USAGE.COPY_HISTORY.

        Rows re-read inside the overlap window count as ``already_seen_loads``.
        """
        state = _Incremental(cursor, "copy_history", self.read.overlap)
        start = state.window_start(self._clock(), self.read.lookback, since)
        sql = snowflake_sql.COPY_HISTORY_PAGE
        for row, key, time in self._pages(sql, start, "COPY_HISTORY", own_tag=False):
            seen_key = f"{key}@{time.isoformat()}"
            if state.seen(seen_key):
                self._report.count("already_seen_loads")
                continue
            load = copy_load_from_row(row, f"{self._label}:COPY_HISTORY {key}", self._report)
            state.mark(seen_key, time)
            if load is not None:
                yield load
        state.flush()

    def stages(self) -> Iterator[StageInfo]:
        """Named stages from ``SHOW STAGES`` (in the account, or per configured database)."""
        for database in self._scopes():
            sql = snowflake_sql.show_stages(database)
            where = f"{self._label}:{sql}"
            for row in self._rows(sql, None, what=sql, missing_fix=self._database_fix(database)):
                stage = stage_from_row(row, where, self._report)
                if stage is not None:
                    yield stage

    def pipes(self) -> Iterator[QueryEvent]:
        """Pipe definitions from ``SHOW PIPES`` as ``CREATE OR REPLACE PIPE … AS COPY …``
        events (``calls=0``), like a pipes export. Not part of the LiveSource protocol:
        Snowpipe loads in COPY_HISTORY need these definitions to map files to columns."""
        for database in self._scopes():
            sql = snowflake_sql.show_pipes(database)
            where = f"{self._label}:{sql}"
            for row in self._rows(sql, None, what=sql, missing_fix=self._database_fix(database)):
                event = pipe_event_from_row(
                    row,
                    source=self._label,
                    location=where,
                    namespace=self.namespace,
                    report=self._report,
                )
                if event is not None:
                    yield event

    def load_catalog(self, catalog: Catalog) -> None:
        """Columns of every table from ``<db>.INFORMATION_SCHEMA.COLUMNS``.

        Databases: the configured ``databases``, else those ``SHOW DATABASES`` lists except
        SNOWFLAKE and SNOWFLAKE_SAMPLE_DATA. A configured database that cannot be read
        stops the source; a listed one (an inbound share, say) is a warning and skipped.
        """
        if self.read.databases:
            for name in self.read.databases:
                self._load_database(catalog, snowflake_sql.identifier(name, exact=False), name)
            return
        for name in self._listed_databases():
            try:
                self._load_database(catalog, snowflake_sql.identifier(name, exact=True), name)
            except SourceError as err:
                self._report.add(
                    "catalog_unreadable",
                    Severity.WARNING,
                    f"columns of database {name} not read: {err.problem}",
                    self._label,
                )

    def close(self) -> None:
        """Close the connection if one was opened; safe to call twice."""
        conn, self._conn = self._conn, None
        if conn is not None:
            # Closing a broken connection must not mask the run's own outcome.
            with contextlib.suppress(Exception):
                conn.close()

    # --- reading --------------------------------------------------------------------

    def _query_event(self, row: Row, query_id: str, skip: frozenset[str]) -> QueryEvent | None:
        where = f"{self._label} query {query_id}"
        if drop_query_row(row, self._report, where, skip):
            return None
        return query_event_from_row(
            row, source=self._label, location=where, namespace=self.namespace, report=self._report
        )

    def _pages(
        self, sql: str, start: datetime, view: str, *, own_tag: bool
    ) -> Iterator[tuple[Row, str, datetime]]:
        """Rows of a history page query from ``start`` on, in (PAGE_TIME, PAGE_KEY) order,
        one LIMIT page at a time, each with its key and time."""
        after_time, after_key = start, ""
        while True:
            position = (after_time, after_key)
            params: dict[str, Any] = {
                "window_start": _iso(start),
                "after_time": _iso(after_time),
                "after_key": after_key,
                "limit": self.read.page_size,
            }
            if own_tag:
                params["own_tag"] = snowflake_sql.OWN_QUERY_TAG
            page = list(
                self._rows(
                    sql,
                    params,
                    what=f"reading ACCOUNT_USAGE.{view}",
                    missing_fix=self._account_usage_fix(),
                )
            )
            for row in page:
                time, key = parse_timestamp(row.get("PAGE_TIME")), cell(row, "PAGE_KEY")
                if time is None or key is None:  # the SQL filters on both; defensive
                    continue
                after_time, after_key = time, key
                yield row, key, time
            if len(page) < self.read.page_size:
                return
            if (after_time, after_key) == position:
                # A full page that does not move the keyset would be fetched forever.
                raise SourceError(
                    self.name,
                    f"paging ACCOUNT_USAGE.{view} made no progress at {_iso(after_time)}",
                    "report this with the Snowflake edition; as a workaround raise `page_size`",
                )

    def _scopes(self) -> list[str | None]:
        """``[None]`` (the whole account) or each configured database as an identifier."""
        if not self.read.databases:
            return [None]
        return [snowflake_sql.identifier(d, exact=False) for d in self.read.databases]

    def _listed_databases(self) -> list[str]:
        sql = snowflake_sql.SHOW_DATABASES
        names = (cell(row, "NAME") for row in self._rows(sql, None, what=sql, missing_fix=None))
        return [n for n in names if n and n.upper() not in snowflake_sql.SYSTEM_DATABASES]

    def _load_database(self, catalog: Catalog, database: str, name: str) -> None:
        sql = snowflake_sql.columns(database)
        where = f"{self._label}:{name}.INFORMATION_SCHEMA.COLUMNS"
        for row in self._rows(
            sql,
            None,
            what=f"reading {name}.INFORMATION_SCHEMA.COLUMNS",
            missing_fix=self._database_fix(name),
        ):
            column = table_column_from_row(row, where, self._report)
            if column is not None:
                catalog.add_column(column.table, column.name, column.ordinal)

    def _rows(
        self, sql: str, params: Mapping[str, Any] | None, *, what: str, missing_fix: str | None
    ) -> Iterator[Row]:
        """Execute and stream rows (upper-case keys) in ``fetchmany`` batches; connector
        errors become SourceError, with the message cleaned of secrets."""
        errors = connector_errors(self.name)
        conn = self._connection()
        try:
            cur = conn.cursor()
            if params is None:
                cur.execute(sql)
            else:
                cur.execute(sql, params)
            names = [str(d[0]).upper() for d in cur.description or ()]
            while batch := cur.fetchmany(self.read.page_size):
                for values in batch:
                    yield dict(zip(names, values, strict=False))
        except errors.Error as err:
            raise query_error(self.name, err, what, missing_fix, secrets(self._environ)) from None

    # --- connecting -----------------------------------------------------------------

    def _connection(self) -> Any:
        if self._conn is None:
            params = connect_params(self.name, self.settings, self._environ)
            connect = self._connect or default_connect(self.name)
            errors = connector_errors(self.name)
            try:
                self._conn = connect(**params)
            except errors.Error as err:
                raise connect_error(self.name, err, self.settings, secrets(self._environ)) from None
        return self._conn

    # --- fixes ----------------------------------------------------------------------

    def _account_usage_fix(self) -> str:
        role = self.settings.role or "<role>"
        return (
            f"GRANT IMPORTED PRIVILEGES ON DATABASE SNOWFLAKE TO ROLE {role} "
            "(or set `role` to a role that has it)"
        )

    def _database_fix(self, database: str | None) -> str | None:
        if database is None:
            return None
        role = self.settings.role or "<role>"
        return f"GRANT USAGE ON DATABASE {database} TO ROLE {role}, or remove it from `databases`"


def _iso(time: datetime) -> str:
    """ISO 8601 with an explicit UTC offset, the form TO_TIMESTAMP_LTZ reads unambiguously."""
    return time.astimezone(UTC).isoformat()
