"""Streaming reader for PostgreSQL server logs: csvlog, jsonlog and stderr.

Yields one :class:`QueryEvent` per successfully executed top-level statement. Memory
stays flat whatever the file size: files are read line by line, and per session only
the one statement whose outcome the session's next line decides is buffered (with its
``search_path``); at most :data:`MAX_SESSIONS` sessions are tracked at once.

How the server logs an execution (postgres.c):

- ``duration: N ms  statement|execute <name>: …`` (``log_min_duration_statement``) is
  written *after* the statement succeeded: emit at once.
- ``statement: …`` / ``execute <name>: …`` (``log_statement``) is written *before* it runs:
  a following bare ``duration:`` or any later statement of the session confirms it; an
  ``ERROR`` fails it.
- ``parse``/``bind`` lines and ``execute fetch from`` belong to an execution counted once
  at its ``execute``.
- A failure shows up as ``ERROR`` with the statement in its ``STATEMENT`` field.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from s3lineage.collect import CollectReport
from s3lineage.collect.pglog_records import (
    COMMON_PREFIXES,
    MAX_DIAGNOSTICS_PER_CODE,
    MAX_LINE_BYTES,
    MAX_RECORD_CHARS,
    FileDiagnostics,
    LinePosition,
    LogRecord,
    RecordParser,
    check_readable,
    decoded_lines,
    detect_format,
    detect_prefix,
    open_binary,
    parse_log_time,
    prefix_regex,
    read_lines,
    record_parser,
    sample_lines,
)
from s3lineage.model import Dialect, QueryEvent, Severity

# Line and record parsing lives in pglog_records; its public names are re-exported here,
# where callers have always imported them from.
__all__ = [
    "COMMON_PREFIXES", "MAX_DIAGNOSTICS_PER_CODE", "MAX_LINE_BYTES", "MAX_RECORD_CHARS",
    "MAX_SAVED_PATHS", "MAX_SESSIONS", "SQL_TOKENS", "FileDiagnostics", "LogRecord",
    "check_readable", "decoded_lines", "detect_format", "detect_prefix", "open_binary",
    "parse_log_time", "parse_parameters", "prefix_regex", "read_postgres_log",
    "search_path_after", "sql_literal", "substitute_parameters",
]

MAX_SESSIONS = 10_000  # beyond this the least recently active session is flushed
MAX_SAVED_PATHS = 1000  # sessions whose search_path a resumable read remembers

_FAILURES = frozenset({"ERROR", "FATAL", "PANIC"})

_STATEMENT_MSG = re.compile(
    r"(?:duration: (?P<ms>\d+(?:\.\d+)?) ms(?:  |\Z))?"
    r"(?:(?P<kind>statement|parse|bind|execute fetch from|execute)"
    r"(?: (?P<name>[^:]*))?: (?P<text>.*))?\Z",
    re.DOTALL,
)
_PARAM_ITEM = re.compile(r"\$(\d+) = (?:NULL|'((?:[^']+|'')*)')(?:, |\Z)", re.DOTALL)

# One SQL token that matters when rewriting text: a literal/comment to skip, a $n
# placeholder, or a parenthesis.
SQL_TOKENS = re.compile(
    r"""(?P<skip>(?<![\w$])[Ee]'(?:[^'\\]|\\.|'')*'?
      |'(?:[^']+|'')*'?
      |"(?:[^"]+|"")*"?
      |--[^\n]*
      |/\*.*?(?:\*/|\Z)
      |(?<![\w$])\$(?P<tag>(?:[A-Za-z_]\w*)?)\$.*?(?:\$(?P=tag)\$|\Z))
    |(?<![\w$])\$(?P<n>\d+)(?!\d)
    |(?P<paren>[()])""",
    re.DOTALL | re.VERBOSE,
)

_SET_PATH = re.compile(
    r"(?:^|;)\s*SET\s+(?:SESSION\s+)?search_path\s*(?:TO|=)\s*(?P<value>[^;]*)", re.IGNORECASE
)
_RESET_PATH = re.compile(r"(?:^|;)\s*RESET\s+(?:search_path|ALL)\b", re.IGNORECASE)
_SET_CONFIG_PATH = re.compile(
    r"set_config\s*\(\s*'search_path'\s*,\s*'(?P<value>(?:[^']|'')*)'\s*,\s*false\s*\)",
    re.IGNORECASE,
)
_PATH_ITEM = re.compile(r"""\s*(?:"((?:[^"]|"")*)"|'((?:[^']|'')*)'|([^\s,"']+))\s*(?:,|\Z)""")


# --- SQL text ------------------------------------------------------------------------

def parse_parameters(detail: str | None) -> dict[int, str | None] | None:
    """Bound values from a ``parameters: $1 = '…', $2 = NULL`` DETAIL, quotes unescaped."""
    if not detail or not detail.startswith("parameters: "):
        return None
    values: dict[int, str | None] = {}
    pos = len("parameters: ")
    while (m := _PARAM_ITEM.match(detail, pos)) is not None:
        values[int(m[1])] = None if m[2] is None else m[2].replace("''", "'")
        pos = m.end()
    return values


def sql_literal(value: str | None) -> str:
    return "NULL" if value is None else "'" + value.replace("'", "''") + "'"


def substitute_parameters(text: str, values: dict[int, str | None]) -> str:
    """Put bound values back as SQL literals, leaving ``$n`` inside literals alone.

    >>> substitute_parameters("SELECT $1, '$1', $2 FROM t WHERE x = $3",
    ...                       {1: "it's", 2: None, 3: "5"})
    "SELECT 'it''s', '$1', NULL FROM t WHERE x = '5'"
    """
    def put(m: re.Match[str]) -> str:
        n = m["n"]
        return sql_literal(values[int(n)]) if n is not None and int(n) in values else m[0]

    return SQL_TOKENS.sub(put, text)


def _path_items(value: str) -> tuple[str, ...] | None:
    items: list[str] = []
    pos, value = 0, value.strip()
    while pos < len(value):
        m = _PATH_ITEM.match(value, pos)
        if m is None or m.end() == pos:
            return None
        dq, sq, bare = m.groups()
        items.append(dq.replace('""', '"') if dq is not None
                     else sq.replace("''", "'") if sq is not None else bare.lower())
        pos = m.end()
    return () if [i.lower() for i in items] == ["default"] else tuple(items)


def search_path_after(text: str) -> tuple[str, ...] | None:
    """The search_path a successful statement leaves its session with; None = unchanged.

    >>> search_path_after('SET search_path TO app, "Mixed", public')
    ('app', 'Mixed', 'public')
    >>> search_path_after("RESET search_path")
    ()
    """
    lowered = text.lower()  # a plain substring test is ~20x faster than an re.I search
    if "search_path" not in lowered and "reset" not in lowered:
        return None
    # A SET inside a function body or comment does not run now: blank those out.
    code = SQL_TOKENS.sub(lambda m: " " if m[0][:1] in "$-/" and m["skip"] else m[0], text)
    found = [(m.start(), _path_items(m["value"])) for m in _SET_PATH.finditer(code)]
    found += [(m.start(), _path_items(m["value"].replace("''", "'")))
              for m in _SET_CONFIG_PATH.finditer(code)]
    found += [(m.start(), ()) for m in _RESET_PATH.finditer(code)]
    found = [f for f in found if f[1] is not None]
    return max(found, key=lambda f: f[0])[1] if found else None


# --- sessions ------------------------------------------------------------------------

@dataclass(slots=True)
class _Pending:
    text: str  # with bound parameters substituted
    raw: str  # as logged: an ERROR's STATEMENT field repeats this
    record: LogRecord


@dataclass(slots=True)
class _Session:
    search_path: tuple[str, ...] = ()
    pending: _Pending | None = None


class _Assembler:
    """Turns records into events, deciding each statement's outcome per session."""

    def __init__(self, path: Path, namespace: str | None, default_database: str | None,
                 diags: FileDiagnostics) -> None:
        self.path, self.namespace, self.default_database = path, namespace, default_database
        self.diags = diags
        self.source = f"postgres:{path.name}"
        self.sessions: OrderedDict[str | None, _Session] = OrderedDict()
        # What a resumable read must carry over (see read_postgres_log's ``position``):
        # (offset, line) of each statement still awaiting its outcome, by session ...
        self.held: dict[str | None, tuple[int, int]] = {}
        # ... and the sessions whose search_path was set, most recently set last.
        self.paths: dict[str, tuple[str, ...]] = {}
        self.paths_changed = False

    def restore(self, paths: dict[str, list[str]]) -> None:
        """Give sessions the search_path an earlier read of this file left them with."""
        for key, items in paths.items():
            self.sessions[key] = _Session(search_path=tuple(items))
            self.paths[key] = tuple(items)

    def feed(self, rec: LogRecord) -> Iterator[QueryEvent]:
        sess = self.sessions.get(rec.session)
        if sess is None:
            sess = self.sessions[rec.session] = _Session()
            if len(self.sessions) > MAX_SESSIONS:
                key, oldest = self.sessions.popitem(last=False)
                self._note_path(key, ())
                yield from self._confirm(oldest, None)
        else:
            self.sessions.move_to_end(rec.session)
        if rec.severity in _FAILURES:
            yield from self._error(sess, rec)
            return
        if rec.severity != "LOG":  # NOTICE/WARNING come mid-statement: they decide nothing
            return
        m = _STATEMENT_MSG.match(rec.message)
        if m is None or (m["kind"] is None and m["ms"] is None):
            yield from self._other(sess, rec)
            return
        yield from self._confirm(sess, rec if m["kind"] is None else None)
        if m["kind"] not in ("statement", "execute"):
            return
        text = self._with_parameters(m["text"], rec)
        if text is None:
            return
        if m["ms"] is None:
            sess.pending = _Pending(text, m["text"], rec)
            self.held[rec.session] = (rec.start, rec.line)
        else:
            yield self._event(sess, text, rec, rec)

    def finish(self) -> Iterator[QueryEvent]:
        """Emit statements still waiting at end of file: nothing said they failed."""
        for sess in self.sessions.values():
            yield from self._confirm(sess, None)
        self.sessions.clear()  # self.paths stays: a resumed read continues these sessions

    def _other(self, sess: _Session, rec: LogRecord) -> Iterator[QueryEvent]:
        # Session boundaries (log_connections/log_disconnections) decide and free state;
        # for sessions keyed by pid they also stop a reused pid inheriting a search_path.
        if rec.message.startswith(("disconnection:", "connection received:")):
            yield from self._confirm(sess, None)
            del self.sessions[rec.session]
            self._note_path(rec.session, ())

    def _confirm(self, sess: _Session, done: LogRecord | None) -> Iterator[QueryEvent]:
        if (p := self._release(sess)) is not None:
            yield self._event(sess, p.text, p.record, done or p.record)

    def _error(self, sess: _Session, rec: LogRecord) -> Iterator[QueryEvent]:
        p = sess.pending
        if p is not None and _same_statement(p, rec):
            self._release(sess)
            self._failed(p.record.line, p.raw, rec)
            return
        yield from self._confirm(sess, None)
        if rec.statement:  # failed without a statement line (log_min_duration_statement)
            self._failed(rec.line, rec.statement, rec)

    def _release(self, sess: _Session) -> _Pending | None:
        """Take the session's pending statement: its outcome is now known."""
        p, sess.pending = sess.pending, None
        if p is not None:
            self.held.pop(p.record.session, None)
        return p

    def _note_path(self, key: str | None, path: tuple[str, ...]) -> None:
        """Remember (or forget, for ``()``) a session's search_path for resumable reads."""
        if key is None or (not path and key not in self.paths):
            return
        self.paths.pop(key, None)
        if path:
            self.paths[key] = path
            if len(self.paths) > MAX_SAVED_PATHS:
                del self.paths[next(iter(self.paths))]
        self.paths_changed = True

    def _failed(self, line: int, text: str, rec: LogRecord) -> None:
        self.diags.add(
            "failed_statement", Severity.INFO,
            # the statement itself stays out of the message: its literals may hold personal
            # data or credentials, and file:line points to it
            f"statement failed ({rec.severity}: {_short(rec.message)}), so it gives no lineage",
            line, count_key="failed_statements")

    def _with_parameters(self, text: str, rec: LogRecord) -> str | None:
        """The statement with its bound values; None when they were cut short."""
        values = parse_parameters(rec.detail)
        if not values:
            return text
        if any(v is not None and v.endswith("...") for v in values.values()):
            # log_parameter_max_length >= 0 cuts values and appends "...": a cut inner
            # query or S3 key would give wrong lineage, so the statement is not used.
            self.diags.add("truncated_parameters", Severity.WARNING,
                           "a bound parameter ends in '...' (cut by log_parameter_max_length?): "
                           "statement skipped; set log_parameter_max_length = -1", rec.line)
            return None
        return substitute_parameters(text, values)

    def _event(self, sess: _Session, text: str, rec: LogRecord, done: LogRecord) -> QueryEvent:
        event = QueryEvent(
            text=text, dialect=Dialect.POSTGRES, source=self.source,
            location=f"{self.path}:{rec.line}", query_id=done.query_id or rec.query_id,
            session_id=rec.session, user=rec.user, time=parse_log_time(done.time or rec.time),
            default_database=rec.database or self.default_database,
            search_path=sess.search_path, namespace=self.namespace,
        )
        if (path := search_path_after(text)) is not None:
            sess.search_path = path  # applies to the session's later statements
            self._note_path(rec.session, path)
        return event


def _same_statement(p: _Pending, rec: LogRecord) -> bool:
    """Whether an ERROR belongs to the pending statement (else that one had succeeded)."""
    if rec.statement:
        return rec.statement.strip() == p.raw.strip()
    if rec.vxid and p.record.vxid:
        return rec.vxid == p.record.vxid
    return True  # nothing contradicts: the session's next line decides


def _short(text: str, limit: int = 120) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


# --- entry point ---------------------------------------------------------------------

def read_postgres_log(
    path: str | Path, *, namespace: str | None, default_database: str | None,
    log_line_prefix: str | None, report: CollectReport, start_offset: int = 0,
    position: dict[str, Any] | None = None, growing: bool = False,
) -> Iterator[QueryEvent]:
    """Stream the successfully executed top-level statements of one PostgreSQL log file.

    ``log_line_prefix`` is the server setting, used for stderr logs (None: guess among
    :data:`COMMON_PREFIXES`). Event ``time`` is when the statement finished when the log
    says so (duration lines), else when it was logged. Raises InputError at once if the
    file cannot be read; everything else becomes a diagnostic in ``report``.

    Resumable reading: ``position``, when given, is updated in place as records complete,
    just before the last event of each record is handed out, so it covers exactly what the
    consumer received: ``offset`` (byte where the next read starts), ``line`` (its line
    number), ``pending`` (``[offset, line]`` of statements still awaiting their outcome)
    and ``search_paths`` (per session). To resume, pass the saved dict back as
    ``position`` with ``start_offset=position["offset"]``: pending statements are re-read
    from their offsets, so a consumer that stopped between records loses and repeats
    nothing (``start_offset=0`` ignores what the dict held).
    ``growing=True`` is for a file the server is still writing: an unfinished last line
    or csv row is left for the next read, and a statement whose outcome is not logged yet
    stays pending instead of being taken as successful at end of file.
    """
    p = check_readable(path, "PostgreSQL log")
    return _read(p, namespace, default_database, log_line_prefix, report,
                 start_offset, position, growing)


def _read(path: Path, namespace: str | None, default_database: str | None,
          log_line_prefix: str | None, report: CollectReport, start_offset: int,
          position: dict[str, Any] | None, growing: bool) -> Iterator[QueryEvent]:
    diags = FileDiagnostics(report, path)
    try:
        with open_binary(path) as f:
            parse = record_parser(path, sample_lines(f, 200), log_line_prefix, diags, growing)
            assembler = _Assembler(path, namespace, default_database, diags)
            where = LinePosition()
            if start_offset:
                resume = position or {}
                where = LinePosition(int(resume.get("line", 0)), start_offset)
                assembler.restore(resume.get("search_paths", {}))
                yield from _reload_pending(f, parse, assembler, resume.get("pending", []), diags)
                f.seek(start_offset)
            records = parse(read_lines(f, diags, where=where, growing=growing))
            if position is None:  # the plain path, kept free of bookkeeping
                for record in records:
                    yield from assembler.feed(record)
                yield from assembler.finish()
                return
            keep = _Keeper(position, assembler, where)
            for record in records:
                yield from keep.hand_out(assembler.feed(record), record.end, record.last_line)
            if not growing:  # the file is complete: what nothing contradicted succeeded
                yield from keep.hand_out(assembler.finish(), where.offset, where.line)
    finally:
        diags.close()  # also when the consumer stops early


def _reload_pending(f: BinaryIO, parse: RecordParser, assembler: _Assembler,
                    pending: list[list[int]], diags: FileDiagnostics) -> Iterator[QueryEvent]:
    """Re-read the statements an earlier read left awaiting their outcome (before resuming)."""
    for offset, line in pending:
        f.seek(offset)
        record = next(parse(read_lines(f, diags, where=LinePosition(line - 1, offset))), None)
        if record is not None:
            yield from assembler.feed(record)  # sets it pending again; emits nothing


class _Keeper:
    """Keeps a caller's ``position`` dict in step with the events handed out."""

    def __init__(self, position: dict[str, Any], assembler: _Assembler,
                 where: LinePosition) -> None:
        self.position, self.assembler = position, assembler
        position["pending"] = []  # replaced whole: the dict may hold an older read's state
        assembler.paths_changed = True
        self._commit(where.offset, where.line)

    def hand_out(self, events: Iterator[QueryEvent], offset: int,
                 line: int) -> Iterator[QueryEvent]:
        """Yield ``events`` (one record's), committing just before the last one leaves."""
        batch = list(events)
        if not batch:
            self._commit(offset, line)
        for i, event in enumerate(batch, start=1):
            if i == len(batch):
                self._commit(offset, line)
            yield event

    def _commit(self, offset: int, line: int) -> None:
        pos, assembler = self.position, self.assembler
        pos["offset"], pos["line"] = offset, line
        if assembler.held or pos.get("pending"):
            pos["pending"] = [list(v) for v in assembler.held.values()]
        if assembler.paths_changed:
            pos["search_paths"] = {k: list(v) for k, v in assembler.paths.items()}
            assembler.paths_changed = False
