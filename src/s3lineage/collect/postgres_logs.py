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

import csv
import gzip
import json
import os
import re
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, BinaryIO, cast

from s3lineage.collect import CollectReport
from s3lineage.errors import InputError
from s3lineage.model import Dialect, QueryEvent, Severity

MAX_LINE_BYTES = 64 * 2**20  # a longer physical line is skipped, which bounds memory
MAX_RECORD_CHARS = 64 * 2**20  # the same bound for one multi-line csvlog row
MAX_SESSIONS = 10_000  # beyond this the least recently active session is flushed
MAX_DIAGNOSTICS_PER_CODE = 50  # per file; the rest are only counted, then summarised
MAX_SAVED_PATHS = 1000  # sessions whose search_path a resumable read remembers

# csvlog messages can be huge statements; the csv module refuses fields > 128 KiB by default.
csv.field_size_limit(max(csv.field_size_limit(), MAX_RECORD_CHARS))

# log_line_prefix values seen in the wild, tried in order when none is configured.
COMMON_PREFIXES = (
    "%m [%p] %q%u@%d %a ",
    "%m [%p] ",  # the PostgreSQL default since 10
    "%t:%r:%u@%d:[%p]:",  # the Amazon RDS / Aurora default
    "%t [%p]: [%l-1] user=%u,db=%d,app=%a,client=%h ",  # pgBadger's recommendation
    "%m [%p] %q[user=%u,db=%d,app=%a] ",
    "",
)

_TZ = r"(?:[A-Za-z]{1,6}|[+-]\d\d(?::?\d\d)?)"
_TS = rf"\d{{4}}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)? {_TZ}"
_CSV_FIELD = r'(?:"(?:[^"]|"")*")?'
# Start of a csvlog row: log_time, user_name, database_name, process_id.
_CSV_ROW = re.compile(rf"{_TS},{_CSV_FIELD},{_CSV_FIELD},\d*,")
_SEVERITIES = ("DEBUG[1-5]?|LOG|INFO|NOTICE|WARNING|ERROR|FATAL|PANIC"
               "|DETAIL|HINT|QUERY|CONTEXT|LOCATION|STATEMENT")
# stderr lines that belong to the preceding message; None = not needed here.
_SECONDARY: dict[str, str | None] = {
    "DETAIL": "detail", "STATEMENT": "statement",
    "HINT": None, "QUERY": None, "CONTEXT": None, "LOCATION": None,
}
_FAILURES = frozenset({"ERROR", "FATAL", "PANIC"})
# log_line_prefix escape → (record field or None, regex). Free-text fields are lazy.
_ESCAPES: dict[str, tuple[str | None, str]] = {
    "m": ("time", _TS), "t": ("time", _TS), "n": ("time", r"\d+(?:\.\d+)?"), "s": (None, _TS),
    "p": ("pid", r"\d+"), "c": ("session", r"[0-9a-f]+\.[0-9a-f]+"), "l": (None, r"\d+"),
    "u": ("user", r"\S*?"), "d": ("database", r"\S*?"), "a": (None, r".*?"),
    "r": (None, r"\S*?"), "h": (None, r"\S*?"), "L": (None, r"\S*?"),
    "v": ("vxid", r"(?:\d+/\d+)?"), "x": (None, r"\d*"), "e": (None, r"[0-9A-Z]{5}"),
    "Q": ("query_id", r"-?\d+"), "i": (None, r".*?"), "b": (None, r".*?"), "P": (None, r"\d*"),
}
# Used when a line does not match the prefix: still find severity and message.
_LENIENT = re.compile(
    rf"(?P<time>{_TS})?.*?\b(?P<severity>{_SEVERITIES}):  (?P<message>.*)", re.DOTALL)

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
_TIME = re.compile(r"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)?)(?: (\S+))?\Z")
_OFFSET = re.compile(r"([+-])(\d\d):?(\d\d)?\Z")


# --- plumbing ------------------------------------------------------------------------

class FileDiagnostics:
    """Diagnostics for one file, capped per code so a broken file cannot flood memory."""

    def __init__(self, report: CollectReport, path: Path) -> None:
        self.report, self.path = report, path
        self._seen: Counter[str] = Counter()

    def add(self, code: str, severity: Severity, message: str, line: int | None = None,
            count_key: str | None = None) -> None:
        self.report.count(count_key or code)
        self._seen[code] += 1
        if self._seen[code] <= MAX_DIAGNOSTICS_PER_CODE:
            where = f"{self.path}:{line}" if line else str(self.path)
            self.report.add(code, severity, message, where)

    def bad(self, line: int, message: str, code: str = "bad_log_line") -> None:
        self.add(code, Severity.WARNING, message, line)

    def close(self) -> None:
        for code, n in self._seen.items():
            if n > MAX_DIAGNOSTICS_PER_CODE:
                hidden = n - MAX_DIAGNOSTICS_PER_CODE
                self.report.add(code, Severity.INFO,
                                f"{hidden} more '{code}' diagnostics not listed", str(self.path))


def check_readable(path: str | Path, what: str) -> Path:
    """``path`` as a Path, or InputError naming it when it cannot be read."""
    p = Path(path)
    if not p.is_file():
        raise InputError(f"{what} {p} does not exist or is not a file")
    if not os.access(p, os.R_OK):
        raise InputError(f"{what} {p} is not readable")
    return p


def open_binary(path: Path) -> BinaryIO:
    """Open a log for reading bytes; rotated ``.gz`` logs are decompressed on the fly."""
    return cast(BinaryIO, gzip.open(path, "rb")) if path.suffix == ".gz" else open(path, "rb")


def _readline(f: BinaryIO, diags: FileDiagnostics, line: int) -> bytes:
    try:
        return f.readline(MAX_LINE_BYTES)
    except (OSError, EOFError) as exc:  # e.g. a truncated .gz: keep what was read
        diags.add("unreadable_file", Severity.ERROR, f"read failed ({exc}); rest of file "
                  "skipped", line)
        return b""


def decoded_lines(f: BinaryIO, diags: FileDiagnostics,
                  bad_code: str = "bad_log_line") -> Iterator[tuple[int, str]]:
    """(line number, text) per physical line, newline kept; bad UTF-8 is reported and replaced.

    Decoding per line (not per file) is what lets a diagnostic name the exact line.
    """
    for n, text, _, _ in _lines(f, diags, bad_code=bad_code):
        yield n, text


# A physical line: number, text, and the byte offsets where it starts and ends.
_Line = tuple[int, str, int, int]


def _skip_rest(f: BinaryIO, diags: FileDiagnostics, n: int) -> tuple[int, bool]:
    """Read past the rest of an over-long line: (bytes read, whether its newline came)."""
    size = 0
    while rest := _readline(f, diags, n):
        size += len(rest)
        if rest.endswith(b"\n"):
            return size, True
    return size, False


@dataclass(slots=True)
class _Where:
    """How far :func:`_lines` has read: the last line number and the byte after it."""

    line: int = 0
    offset: int = 0


def _lines(f: BinaryIO, diags: FileDiagnostics, *, bad_code: str = "bad_log_line",
           where: _Where | None = None, growing: bool = False) -> Iterator[_Line]:
    """decoded_lines with byte offsets, continuing from ``where`` (updated as lines are read).

    ``growing``: the server may be mid-way through writing the last line, so a last line
    without its newline is not read (the next read gets it whole).
    """
    where = where if where is not None else _Where()
    n, pos = where.line, where.offset
    while raw := _readline(f, diags, n + 1):
        start, pos = pos, pos + len(raw)
        if len(raw) == MAX_LINE_BYTES and not raw.endswith(b"\n"):
            size, ended = _skip_rest(f, diags, n + 1)
            if growing and not ended:
                return
            pos += size
            n += 1
            where.line, where.offset = n, pos
            diags.bad(n, f"line longer than {MAX_LINE_BYTES} bytes skipped", bad_code)
            continue
        if growing and not raw.endswith(b"\n"):
            return
        n += 1
        where.line, where.offset = n, pos
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            diags.add("invalid_encoding", Severity.WARNING,
                      f"invalid UTF-8 at byte {exc.start} of the line; read with replacement "
                      "characters", n)
            text = raw.decode("utf-8", "replace")
        yield n, text, start, pos


# --- records -------------------------------------------------------------------------

@dataclass(slots=True)
class LogRecord:
    """One server message, whatever the log format (stderr DETAIL/STATEMENT lines merged)."""

    line: int
    severity: str
    message: str
    session: str | None = None  # session id, else the backend pid
    time: str | None = None
    user: str | None = None
    database: str | None = None
    vxid: str | None = None
    detail: str | None = None
    statement: str | None = None
    query_id: str | None = None
    start: int = 0  # byte offsets of the record in the file: where it starts and ends,
    end: int = 0  # so that a resumable read knows where to pick up
    last_line: int = 0


def _query_id(value: object) -> str | None:
    # 0 means "not computed": log_statement lines are written before parse analysis.
    text = str(value).strip() if value is not None else ""
    return text if text not in ("", "0") else None


def _csv_records(lines: Iterator[_Line], diags: FileDiagnostics,
                 growing: bool = False) -> Iterator[LogRecord]:
    """Frame csvlog rows by quote parity, then parse each with the csv module.

    Framing ourselves (rather than one csv.reader over the file) keeps a row cut short by
    a crash from swallowing the rows after it: a new row start ends an unclosed one. In a
    ``growing`` file an unclosed last row is still being written: it is left unread.
    """
    buf: list[str] = []
    start = quotes = size = offset = 0
    for n, line, begin, end in lines:
        if buf and _CSV_ROW.match(line):
            diags.bad(start, "truncated csvlog row (a quoted field never ends)")
            buf = []
        if not buf:
            if not _CSV_ROW.match(line):
                if line.strip():
                    diags.bad(n, "line is not a csvlog row")
                continue
            start, quotes, size, offset = n, 0, 0, begin
        buf.append(line)
        quotes += line.count('"')
        size += len(line)
        if quotes % 2 == 0:
            record = _csv_record(buf, start, diags)
            buf = []
            if record is not None:
                record.start, record.end, record.last_line = offset, end, n
                yield record
        elif size > MAX_RECORD_CHARS:
            diags.bad(start, f"csvlog row longer than {MAX_RECORD_CHARS} characters skipped")
            buf = []
    if buf and not growing:
        diags.bad(start, "truncated csvlog row at end of file")


def _csv_record(buf: list[str], line: int, diags: FileDiagnostics) -> LogRecord | None:
    try:
        row = next(csv.reader(buf))
    except (csv.Error, StopIteration) as exc:
        diags.bad(line, f"unreadable csvlog row: {exc}")
        return None
    if len(row) < 23:  # 23 columns up to PG12, 24 in PG13, 26 since PG14
        diags.bad(line, f"csvlog row has {len(row)} columns, expected 26 (truncated?)")
        return None
    return LogRecord(
        line=line, severity=row[11], message=row[13], session=row[5] or row[3] or None,
        time=row[0] or None, user=row[1] or None, database=row[2] or None,
        vxid=row[9] or None, detail=row[14] or None, statement=row[19] or None,
        query_id=_query_id(row[25]) if len(row) > 25 else None,
    )


def _json_records(lines: Iterator[_Line], diags: FileDiagnostics) -> Iterator[LogRecord]:
    for n, line, begin, end in lines:
        text = line.strip()
        if not text:
            continue
        try:
            obj = json.loads(text) if text.startswith("{") else None
        except ValueError:
            obj = None
        if not isinstance(obj, dict):
            diags.bad(n, "line is not a jsonlog object")
            continue
        session = obj.get("session_id") or obj.get("pid")
        yield LogRecord(
            line=n, severity=str(obj.get("error_severity", "")),
            message=str(obj.get("message", "")),
            session=str(session) if session is not None else None,
            time=obj.get("timestamp"), user=obj.get("user") or None,
            database=obj.get("dbname") or None, vxid=obj.get("vxid") or None,
            detail=obj.get("detail"), statement=obj.get("statement"),
            query_id=_query_id(obj.get("query_id")), start=begin, end=end, last_line=n,
        )


def prefix_regex(prefix: str) -> re.Pattern[str]:
    """Regex for a stderr line written with ``log_line_prefix = prefix``.

    >>> m = prefix_regex("%m [%p] %q%u@%d %a ").match(
    ...     "2025-01-14 10:00:00.123 UTC [42] alice@appdb psql LOG:  statement: SELECT 1")
    >>> m["pid"], m["user"], m["database"], m["severity"], m["message"]
    ('42', 'alice', 'appdb', 'LOG', 'statement: SELECT 1')
    """
    parts: list[str] = []
    used: set[str] = set()
    optional = False
    for m in re.finditer(r"%(-?\d*)(.)|([^%]+)|%\Z", prefix):
        pad, esc, literal = m.groups()
        if literal is not None:
            parts.append(re.escape(literal))
        elif esc is None or esc == "%":
            parts.append("%")
        elif esc == "q":  # what follows %q is printed only by session processes
            if not optional:
                parts.append("(?:")
                optional = True
        else:
            name, rx = _ESCAPES.get(esc, (None, r".*?"))
            rx = f"(?P<{name}>{rx})" if name and name not in used else f"(?:{rx})"
            used.add(name or "")
            parts.append(rf"\s*{rx}\s*" if pad else rx)  # padding is spaces
    body = "".join(parts) + (")?" if optional else "")
    return re.compile(rf"{body}(?P<severity>{_SEVERITIES}):  (?P<message>.*)", re.DOTALL)


def detect_prefix(sample: list[str]) -> str:
    """The COMMON_PREFIXES entry matching most of ``sample`` (stderr lines)."""
    scores = [sum(1 for line in sample if prefix_regex(p).match(line)) for p in COMMON_PREFIXES]
    best = max(range(len(scores)), key=lambda i: (scores[i], -i))
    return COMMON_PREFIXES[best] if scores[best] else "%m [%p] "


def _stderr_records(lines: Iterator[_Line], regex: re.Pattern[str], diags: FileDiagnostics,
                    growing: bool = False) -> Iterator[LogRecord]:
    """Merge each message's DETAIL/STATEMENT lines and TAB continuation lines into one record.

    A message has no end marker: only the next one ends it. So in a ``growing`` file the
    last message is left for the next read (more of its lines may still be written).
    """
    cur: LogRecord | None = None
    field: str | None = None  # the field continuation lines extend ("" = ignore them)
    mismatches = 0
    for n, raw, begin, end in lines:
        line = raw.rstrip("\r\n")
        if line.startswith("\t"):
            if cur is not None and field:
                setattr(cur, field, f"{getattr(cur, field)}\n{line[1:]}")
                cur.end, cur.last_line = end, n
            elif field is None:
                diags.bad(n, "continuation line with no message before it")
            continue
        m = regex.match(line)
        if m is None and (m := _LENIENT.match(line)) is not None:
            mismatches += 1
        if m is None:
            if line.strip():
                diags.bad(n, "line in no known PostgreSQL log format")
            field = None
            continue
        g = m.groupdict()
        severity, key = g["severity"], g.get("session") or g.get("pid")
        if severity in _SECONDARY:
            attr = _SECONDARY[severity] if cur is not None and cur.session == key else None
            if cur is not None and attr:
                setattr(cur, attr, g["message"])
                cur.end, cur.last_line = end, n
            field = attr or ""
            continue
        if cur is not None:
            yield cur
        cur = LogRecord(
            line=n, severity=severity, message=g["message"], session=key, time=g.get("time"),
            user=g.get("user") or None, database=g.get("database") or None,
            vxid=g.get("vxid") or None, query_id=_query_id(g.get("query_id")),
            start=begin, end=end, last_line=n,
        )
        field = "message"
    if cur is not None and not growing:
        yield cur
    if mismatches:
        diags.add("log_line_prefix_mismatch", Severity.WARNING,
                  f"{mismatches} lines do not match log_line_prefix; read without their "
                  "session/user/database. Pass the server's log_line_prefix setting.")


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


def parse_log_time(value: str | None) -> datetime | None:
    """A log timestamp (``%m``/``%t``/``%n``) as a datetime; naive when the zone is ambiguous."""
    if not value:
        return None
    m = _TIME.match(value)
    if m is None:
        try:
            return datetime.fromtimestamp(float(value), UTC)
        except (ValueError, OverflowError):
            return None
    dt = datetime.fromisoformat(m[1])
    zone = m[2]
    if zone in ("UTC", "GMT", "UCT", "Z"):
        return dt.replace(tzinfo=UTC)
    if zone and (off := _OFFSET.match(zone)):
        delta = timedelta(hours=int(off[2]), minutes=int(off[3] or 0))
        return dt.replace(tzinfo=timezone(delta if off[1] == "+" else -delta))
    return dt  # abbreviations like CET/EST are not unique: leave it naive


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
            f"statement failed ({rec.severity}: {_short(rec.message)}), so it gives no "
            f"lineage: {_short(text)}", line, count_key="failed_statements")

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

def _sample(f: BinaryIO, limit: int) -> list[str]:
    """Up to ``limit`` non-blank, non-continuation lines from the start; rewinds ``f``."""
    lines: list[str] = []
    for _ in range(limit * 4):
        try:
            raw = f.readline(65536)
        except (OSError, EOFError):  # decoded_lines reports it when it gets there
            break
        if not raw:
            break
        text = raw.decode("utf-8", "replace").rstrip("\r\n")
        if text.strip() and not text.startswith("\t"):
            lines.append(text)
            if len(lines) >= limit:
                break
    f.seek(0)
    return lines


def detect_format(path: Path, first_line: str) -> str:
    """``csv``, ``json`` or ``stderr``: the extension decides, else the first line."""
    suffixes = [s.lower() for s in path.suffixes if s.lower() != ".gz"]
    by_extension = {".csv": "csv", ".json": "json", ".log": "stderr"}
    if first_line.lstrip().startswith("{"):
        return "json"
    if suffixes and suffixes[-1] in by_extension:
        return by_extension[suffixes[-1]]
    return "csv" if _CSV_ROW.match(first_line) else "stderr"


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


_Parse = Callable[[Iterator[_Line]], Iterator[LogRecord]]


def _parser(path: Path, sample: list[str], log_line_prefix: str | None,
            diags: FileDiagnostics, growing: bool) -> _Parse:
    """The record parser for the file's format (sniffed from ``sample``)."""
    kind = detect_format(path, sample[0] if sample else "")
    if kind == "csv":
        return lambda lines: _csv_records(lines, diags, growing)
    if kind == "json":
        return lambda lines: _json_records(lines, diags)
    prefix = log_line_prefix if log_line_prefix is not None else detect_prefix(sample)
    regex = prefix_regex(prefix)
    return lambda lines: _stderr_records(lines, regex, diags, growing)


def _read(path: Path, namespace: str | None, default_database: str | None,
          log_line_prefix: str | None, report: CollectReport, start_offset: int,
          position: dict[str, Any] | None, growing: bool) -> Iterator[QueryEvent]:
    diags = FileDiagnostics(report, path)
    try:
        with open_binary(path) as f:
            parse = _parser(path, _sample(f, 200), log_line_prefix, diags, growing)
            assembler = _Assembler(path, namespace, default_database, diags)
            where = _Where()
            if start_offset:
                resume = position or {}
                where = _Where(int(resume.get("line", 0)), start_offset)
                assembler.restore(resume.get("search_paths", {}))
                yield from _reload_pending(f, parse, assembler, resume.get("pending", []), diags)
                f.seek(start_offset)
            records = parse(_lines(f, diags, where=where, growing=growing))
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


def _reload_pending(f: BinaryIO, parse: _Parse, assembler: _Assembler,
                    pending: list[list[int]], diags: FileDiagnostics) -> Iterator[QueryEvent]:
    """Re-read the statements an earlier read left awaiting their outcome (before resuming)."""
    for offset, line in pending:
        f.seek(offset)
        record = next(parse(_lines(f, diags, where=_Where(line - 1, offset))), None)
        if record is not None:
            yield from assembler.feed(record)  # sets it pending again; emits nothing


class _Keeper:
    """Keeps a caller's ``position`` dict in step with the events handed out."""

    def __init__(self, position: dict[str, Any], assembler: _Assembler, where: _Where) -> None:
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
