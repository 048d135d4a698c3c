"""Live PostgreSQL source: pg_stat_statements deltas and server logs read incrementally.

:class:`PostgresLiveSource` implements :class:`~s3lineage.collect.live.LiveSource` with
psycopg 3. Each :meth:`~PostgresLiveSource.events` call yields only what is new since the
cursor, which it mutates as it goes (the pipeline saves it with the run):

.. code-block:: python

    {
      "pgss": {"<userid>:<dbid>:<queryid>": calls},   # calls already emitted
      "pgss_reset": "2025-01-14T10:00:00+00:00",      # pg_stat_statements_info.stats_reset
      "logged_queryids": ["-123", ...],               # queryids the logs gave last run
      "logs": [{"path": ..., "inode": ..., "offset": ..., "line": ...,
                "pending": [[offset, line]], "search_paths": {...}, "head": [n, sha1]}],
    }

- **pg_stat_statements** has no per-execution timestamps, so runs diff snapshots: an
  entry is emitted when it is new or its ``calls`` grew, with ``calls`` = the growth. A
  changed ``stats_reset`` (or calls that shrank: the entry was evicted and came back)
  means the counts restarted, so the current calls are emitted.
- **Server logs** (``log_files``) are read with
  :func:`~s3lineage.collect.postgres_logs.read_postgres_log` from the saved byte offset
  while the file's inode is the same, its size has not dropped below the offset and its
  first bytes are unchanged; otherwise (rotation, truncation) from the start.
- A statement the logs gave (same queryid, this run or the last) is not counted again
  from pg_stat_statements: the log line has its literals, pgss only the normalized text.

Our own queries carry :data:`MARKER` so that neither pgss nor the logs report them.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Self

from s3lineage.collect import CollectReport
from s3lineage.collect.live import Cursor, SourceError
from s3lineage.collect.postgres_files import _NORMALIZED_FIX, has_normalized_aws_s3_call
from s3lineage.collect.postgres_logs import open_binary, read_postgres_log
from s3lineage.collect.snowflake_files import CopyLoad, StageInfo
from s3lineage.config import SourceConfig
from s3lineage.errors import InputError
from s3lineage.model import Dialect, QueryEvent, Severity
from s3lineage.resolve.schema import Catalog

try:  # an optional extra: the error says how to install it
    import psycopg
    from psycopg import sql
    from psycopg.conninfo import conninfo_to_dict, make_conninfo
except ImportError:  # pragma: no cover - exercised only without the extra
    psycopg = None  # type: ignore[assignment]

MARKER = "/* s3lineage live collector */"
DEFAULT_CONNECT_TIMEOUT = 10
HEAD_BYTES = 256  # how much of a log file's start identifies it across truncation
INSUFFICIENT = "<insufficient privilege>"

_COLUMNS_SQL = MARKER + """
SELECT table_catalog, table_schema, table_name, column_name, ordinal_position
FROM information_schema.columns
WHERE table_schema NOT IN ('pg_catalog', 'information_schema')
  AND table_schema NOT LIKE 'pg\\_toast%' AND table_schema NOT LIKE 'pg\\_temp\\_%'
ORDER BY 1, 2, 3, 5"""
_EXTENSION_SQL = MARKER + """
SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
WHERE e.extname = 'pg_stat_statements'"""
_VIEW_COLUMNS_SQL = MARKER + """
SELECT a.attname FROM pg_attribute a
WHERE a.attrelid = to_regclass(%s) AND a.attnum > 0 AND NOT a.attisdropped"""

_PRELOAD_FIX = ("add shared_preload_libraries = 'pg_stat_statements' to postgresql.conf "
                "(on RDS: the DB parameter group), restart the server")
_GRANT_FIX = "GRANT pg_read_all_stats TO {user}; (run as a superuser, or rds_superuser)"
_NETWORK_FIX = ("check the DSN's host and port, that the server is running, and the network "
                "or firewall in between; the server must listen on that address "
                "(listen_addresses in postgresql.conf)")
_AUTH_FIX = ("check the user and password: in the DSN, PGPASSWORD or ~/.pgpass, and that "
             "the server's pg_hba.conf has an entry for this user, database and client address")


@dataclass(frozen=True, slots=True)
class _PgssRow:
    key: str  # "<userid>:<dbid>:<queryid>"
    queryid: str | None
    query: str
    calls: int
    user: str | None
    database: str | None


@dataclass(frozen=True, slots=True)
class _Snapshot:
    rows: list[_PgssRow]
    reset: str | None  # pg_stat_statements_info.stats_reset, ISO format


class PostgresLiveSource:
    """A running PostgreSQL server (``dsn``), plus its log files when ``log_files`` is set."""

    def __init__(self, source: SourceConfig, report: CollectReport) -> None:
        self.source = source
        self.name = source.name
        self.report = report
        self._conn: Any = None  # psycopg.Connection, opened on first use

    # ------------------------------------------------------------------ LiveSource

    def load_catalog(self, catalog: Catalog) -> None:
        """Add every column of the connected database's non-system schemas to ``catalog``."""
        n = 0
        for table_catalog, schema, table, column, ordinal in self._query(_COLUMNS_SQL):
            catalog.add_column((table_catalog, schema, table), column, int(ordinal))
            n += 1
        self.report.count("catalog_columns", n)
        if n == 0:  # information_schema shows only columns the user has a privilege on
            self.report.add("catalog_unreadable", Severity.WARNING,
                            f"information_schema.columns lists no table for user "
                            f"{self._user()!r}: column lineage needs the tables' columns. "
                            "Fix: GRANT SELECT on the tables (or pg_read_all_data, PG14+)",
                            self.name)

    def stages(self) -> Iterable[StageInfo]:
        return ()

    def events(self, cursor: Cursor, *, since: datetime | None = None) -> Iterator[QueryEvent]:
        """New log statements, then pg_stat_statements growth since ``cursor`` (mutated).

        ``since`` only drops log statements older than it: pg_stat_statements has no
        execution times, and offsets already keep what was read.
        """
        read_at = datetime.now(UTC)
        since = _aware(since) if since is not None else None
        # Snapshot pgss before reading the logs: a statement run in between is then in
        # this run's logs and the next snapshot, where "logged last run" skips it.
        snapshot = self._pgss_snapshot()
        logged: set[str] = set()
        for event in self._log_events(cursor, logged):
            if since is None or event.time is None or _aware(event.time) >= since:
                yield event
        skip = logged | set(cursor.get("logged_queryids", ()))
        cursor["logged_queryids"] = sorted(logged)
        yield from self._pgss_events(cursor, snapshot, skip, read_at)

    def copy_loads(self, cursor: Cursor, *, since: datetime | None = None) -> Iterator[CopyLoad]:
        return iter(())

    def close(self) -> None:
        if self._conn is not None:
            conn, self._conn = self._conn, None
            conn.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ connection

    def _error(self, problem: str, fix: str) -> SourceError:
        return SourceError(self.name, _scrub(problem, self._password()), fix)

    def _password(self) -> str | None:
        try:
            password = conninfo_to_dict(str(self.source.settings.get("dsn", ""))).get("password")
        except Exception:  # noqa: BLE001 - an unparsable DSN is reported by _connect
            return None
        return str(password) if password else None

    def _connection(self) -> Any:
        if self._conn is None:
            self._conn = self._connect()
        return self._conn

    def _connect(self) -> Any:
        """Connect with the DSN; libpq finds the password (DSN, PGPASSWORD, ~/.pgpass)."""
        if psycopg is None:
            raise self._error("psycopg is not installed",
                              "pip install 's3lineage[postgres]' (psycopg 3 with libpq)")
        dsn = str(self.source.settings.get("dsn", ""))
        try:
            params = conninfo_to_dict(dsn)
        except psycopg.ProgrammingError:
            # its message quotes part of the DSN, which may hold the password: not shown
            raise self._error("the dsn is not a valid libpq connection string or URI",
                              "use e.g. postgresql://user@host:5432/dbname (password in "
                              "PGPASSWORD or ~/.pgpass)") from None
        options: dict[str, Any] = {"autocommit": True}
        if "connect_timeout" in self.source.settings or "connect_timeout" not in params:
            options["connect_timeout"] = int(self.source.settings.get(
                "connect_timeout", DEFAULT_CONNECT_TIMEOUT))
        if "application_name" not in params:
            options["application_name"] = "s3lineage"
        try:
            return psycopg.connect(dsn, **options)
        except psycopg.Error as err:
            raise self._connect_error(params, err) from None

    def _connect_error(self, params: dict[str, Any], err: Exception) -> SourceError:
        shown = make_conninfo(**{k: v for k, v in params.items()
                                 if k in ("host", "hostaddr", "port", "dbname", "user")})
        message = " ".join(str(err).split())
        low = message.lower()
        if any(s in low for s in ("password", "authentication", "pg_hba.conf", "role \"")):
            fix = _AUTH_FIX
        elif "database \"" in low and "does not exist" in low:
            fix = "check the database name (dbname) in the DSN"
        elif any(s in low for s in ("refused", "timeout", "timed out", "translate host",
                                    "no route", "unreachable", "could not connect",
                                    "ssl negotiation", "closed the connection")):
            fix = _NETWORK_FIX
        else:
            fix = f"{_NETWORK_FIX}; {_AUTH_FIX}"
        return self._error(f"cannot connect to PostgreSQL ({shown or 'libpq defaults'}): "
                           f"{message}", fix)

    def _query(self, query: str | Any, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        """Rows of one query; connection and SQL failures become SourceError."""
        conn = self._connection()
        try:
            with conn.cursor() as cur:
                cur.execute(query, params or None)
                return list(cur.fetchall())
        except psycopg.Error as err:
            raise self._query_error(err) from None

    def _query_error(self, err: Exception) -> SourceError:
        message = " ".join(str(err).split())
        if "shared_preload_libraries" in message:
            return self._error(f"pg_stat_statements is installed in the database but not "
                               f"loaded by the server ({message})", _PRELOAD_FIX)
        if isinstance(err, psycopg.errors.InsufficientPrivilege):
            grant = _GRANT_FIX.format(user=_quote(self._user()))
            return self._error(f"missing privilege ({message})",
                               f"{grant} and GRANT SELECT on the objects named")
        if isinstance(err, psycopg.OperationalError):
            return self._error(f"lost the connection to PostgreSQL ({message})", _NETWORK_FIX)
        return self._error(f"query failed ({message})",
                           "check the server log; this PostgreSQL version may be unsupported")

    def _user(self) -> str:
        conn = self._conn
        return str(conn.info.user) if conn is not None else "<dsn user>"

    # ------------------------------------------------------------------ pg_stat_statements

    def _pgss_snapshot(self) -> _Snapshot:
        """Top-level pg_stat_statements rows and the stats reset time, checked for privilege."""
        found = self._query(_EXTENSION_SQL)
        if not found:
            database = self._connection().info.dbname
            raise self._error(
                f"pg_stat_statements is not installed in database {database!r}",
                f"{_PRELOAD_FIX}, then run CREATE EXTENSION pg_stat_statements; in {database!r}")
        schema = str(found[0][0])
        columns = {str(r[0]) for r in self._query(
            _VIEW_COLUMNS_SQL, (f"{_quote(schema)}.pg_stat_statements",))}
        rows = [self._pgss_row(r) for r in self._query(_pgss_sql(schema, columns))]
        if any(r.query == INSUFFICIENT for r in rows):
            raise self._error(
                f"user {self._user()!r} sees other users' statements in pg_stat_statements "
                f"only as {INSUFFICIENT!r}", _GRANT_FIX.format(user=_quote(self._user())))
        info = self._query(_VIEW_COLUMNS_SQL, (f"{_quote(schema)}.pg_stat_statements_info",))
        reset = None
        if info:  # pg_stat_statements 1.9+ (PostgreSQL 14+)
            stamp = self._query(sql.SQL("{} SELECT stats_reset FROM {}.pg_stat_statements_info")
                                .format(sql.SQL(MARKER), sql.Identifier(schema)))
            reset = stamp[0][0].isoformat() if stamp and stamp[0][0] is not None else None
        return _Snapshot(rows, reset)

    @staticmethod
    def _pgss_row(row: tuple[Any, ...]) -> _PgssRow:
        userid, dbid, queryid, query, calls, user, database = row
        qid = None if queryid is None else str(queryid)
        return _PgssRow(f"{userid}:{dbid}:{qid}", qid, query or "", int(calls or 0),
                        user or str(userid), database)

    def _pgss_events(self, cursor: Cursor, snapshot: _Snapshot, skip: set[str],
                     read_at: datetime) -> Iterator[QueryEvent]:
        """Growth since the cursor's snapshot; the cursor is updated before each yield."""
        if "pgss_reset" in cursor and cursor["pgss_reset"] != snapshot.reset:
            cursor["pgss"] = {}  # counts restarted: everything now is new
            self.report.count("pgss_resets")
        cursor["pgss_reset"] = snapshot.reset
        seen: dict[str, int] = cursor.setdefault("pgss", {})
        for row in snapshot.rows:
            before = seen.get(row.key, 0)
            seen[row.key] = row.calls
            # fewer calls than last time: the entry was evicted and came back
            delta = row.calls - before if row.calls >= before else row.calls
            if delta > 0 and (event := self._pgss_event(row, delta, skip, read_at)):
                yield event
        present = {row.key for row in snapshot.rows}
        for key in [k for k in seen if k not in present]:
            del seen[key]  # evicted or reset: if it comes back, all its calls are new

    def _pgss_event(self, row: _PgssRow, delta: int, skip: set[str],
                    read_at: datetime) -> QueryEvent | None:
        if MARKER in row.query[: len(MARKER) + 8]:
            return None  # our own query
        if row.queryid is not None and row.queryid in skip:
            self.report.count("pgss_rows_in_logs")
            return None
        if has_normalized_aws_s3_call(row.query):
            self.report.count("normalized_parameters")
            self.report.add("normalized_parameters", Severity.WARNING,
                            f"queryid {row.queryid}: {_NORMALIZED_FIX}",
                            f"{self.name}: pg_stat_statements")
            return None
        return QueryEvent(
            text=row.query, dialect=Dialect.POSTGRES, source=f"postgres-live:{self.name}",
            query_id=row.queryid, user=row.user,
            default_database=row.database or self.source.database, calls=delta,
            namespace=self.source.namespace, time=read_at,
        )

    # ------------------------------------------------------------------ server logs

    def _log_events(self, cursor: Cursor, logged: set[str]) -> Iterator[QueryEvent]:
        """New statements of every log file; ``cursor["logs"]`` follows what was yielded."""
        paths = self.source.paths("log_files")
        growing = _growing(paths)
        previous = {str(e.get("path")): e for e in cursor.get("logs", ())}
        entries = [e for p in paths if (e := self._log_entry(p, previous.get(str(p))))]
        cursor["logs"] = entries
        for entry in entries:
            path = Path(entry["path"])
            for event in self._read_log(path, entry, path in growing):
                if event.text.startswith(MARKER):
                    continue  # our own query
                if event.query_id:
                    logged.add(event.query_id)
                yield event
            try:
                entry["head"] = _head(path, min(int(entry["offset"]), HEAD_BYTES))
            except OSError:  # gone since: the next run starts it afresh anyway
                entry.pop("head", None)

    def _log_entry(self, path: Path, old: dict[str, Any] | None) -> dict[str, Any] | None:
        """Where to resume ``path``: the saved entry if it is the same file, else offset 0."""
        try:
            st = path.stat()
        except FileNotFoundError:  # rotated away since the config was read
            self.report.add("missing_file", Severity.WARNING,
                            "log file no longer exists; skipped", str(path))
            return None
        except OSError as err:
            raise self._unreadable(path, err) from None
        if not os.access(path, os.R_OK):
            raise self._unreadable(path, PermissionError("permission denied"))
        if old is not None and self._same_file(path, st, old):
            return old
        if old is not None:
            self.report.count("log_files_rotated")
        return {"path": str(path), "inode": st.st_ino, "offset": 0}

    @staticmethod
    def _same_file(path: Path, st: os.stat_result, old: dict[str, Any]) -> bool:
        offset = int(old.get("offset", 0))
        if old.get("inode") != st.st_ino:
            return False
        if path.suffix != ".gz" and st.st_size < offset:  # truncated
            return False
        head = old.get("head")  # truncated and refilled past the offset: first bytes differ
        return not head or _head(path, int(head[0])) == head

    def _read_log(self, path: Path, entry: dict[str, Any], growing: bool) -> Iterator[QueryEvent]:
        try:
            yield from read_postgres_log(
                path, namespace=self.source.namespace, default_database=self.source.database,
                log_line_prefix=self.source.log_line_prefix, report=self.report,
                start_offset=int(entry["offset"]), position=entry, growing=growing)
        except (InputError, PermissionError) as err:
            raise self._unreadable(path, err) from None

    def _unreadable(self, path: Path, err: Exception) -> SourceError:
        return self._error(f"cannot read log file {path}: {err}",
                           "check the path in log_files and that this user may read the file "
                           "(e.g. log_file_mode = 0640 and membership of the server's group)")


def _pgss_sql(schema: str, columns: set[str]) -> Any:
    """The snapshot query for this pg_stat_statements version (PG13 has no toplevel)."""
    where = sql.SQL("WHERE s.toplevel") if "toplevel" in columns else sql.SQL("")
    return sql.SQL(
        "{marker} SELECT s.userid, s.dbid, s.queryid, s.query, s.calls, r.rolname, d.datname "
        "FROM {schema}.pg_stat_statements s "
        "LEFT JOIN pg_roles r ON r.oid = s.userid "
        "LEFT JOIN pg_database d ON d.oid = s.dbid {where}"
    ).format(marker=sql.SQL(MARKER), schema=sql.Identifier(schema), where=where)


def _growing(paths: Iterable[Path]) -> set[Path]:
    """The files the server may still be writing: per log format, the newest one."""
    newest: dict[str, tuple[float, Path]] = {}
    for path in paths:
        if path.suffix == ".gz":
            continue  # compressed by rotation: complete
        try:
            mtime = path.stat().st_mtime
        except OSError:
            continue
        if path.suffix not in newest or mtime >= newest[path.suffix][0]:
            newest[path.suffix] = (mtime, path)
    return {path for _, path in newest.values()}


def _head(path: Path, size: int) -> list[Any]:
    """``[size, sha1 of the first size bytes]``: identifies a file's content at its start."""
    with open_binary(path) as f:
        data = f.read(size)
    return [len(data), hashlib.sha1(data).hexdigest()]


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def _scrub(text: str, password: str | None) -> str:
    return text.replace(password, "***") if password else text


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
