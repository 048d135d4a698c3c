"""Framing and parsing of PostgreSQL server logs (csvlog, jsonlog, stderr) into records.

One :class:`LogRecord` per server message, whatever the format: a csvlog row (which may
span lines), a jsonlog object, or a stderr message with its DETAIL/STATEMENT and TAB
continuation lines merged. Lines are read as bytes and decoded one at a time, with their
byte offsets, so diagnostics name the exact line and a resumable read knows where to pick
up. What a record means (which statement ran, and whether it succeeded) is decided in
:mod:`s3lineage.collect.postgres_logs`.
"""

from __future__ import annotations

import csv
import gzip
import json
import os
import re
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import BinaryIO, cast

from s3lineage.collect import CollectReport
from s3lineage.errors import InputError
from s3lineage.model import Severity

MAX_LINE_BYTES = 64 * 2**20  # a longer physical line is skipped, which bounds memory
MAX_RECORD_CHARS = 64 * 2**20  # the same bound for one multi-line csvlog row
MAX_DIAGNOSTICS_PER_CODE = 50  # per file; the rest are only counted, then summarised

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
    for n, text, _, _ in read_lines(f, diags, bad_code=bad_code):
        yield n, text


# A physical line: number, text, and the byte offsets where it starts and ends.
Line = tuple[int, str, int, int]


def _skip_rest(f: BinaryIO, diags: FileDiagnostics, n: int) -> tuple[int, bool]:
    """Read past the rest of an over-long line: (bytes read, whether its newline came)."""
    size = 0
    while rest := _readline(f, diags, n):
        size += len(rest)
        if rest.endswith(b"\n"):
            return size, True
    return size, False


@dataclass(slots=True)
class LinePosition:
    """How far :func:`read_lines` has read: the last line number and the byte after it."""

    line: int = 0
    offset: int = 0


def read_lines(f: BinaryIO, diags: FileDiagnostics, *, bad_code: str = "bad_log_line",
               where: LinePosition | None = None, growing: bool = False) -> Iterator[Line]:
    """decoded_lines with byte offsets, continuing from ``where`` (updated as lines are read).

    ``growing``: the server may be mid-way through writing the last line, so a last line
    without its newline is not read (the next read gets it whole).
    """
    where = where if where is not None else LinePosition()
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


def _csv_records(lines: Iterator[Line], diags: FileDiagnostics,
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


def _json_records(lines: Iterator[Line], diags: FileDiagnostics) -> Iterator[LogRecord]:
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


def _stderr_records(lines: Iterator[Line], regex: re.Pattern[str], diags: FileDiagnostics,
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


# --- format detection ----------------------------------------------------------------

def sample_lines(f: BinaryIO, limit: int) -> list[str]:
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


RecordParser = Callable[[Iterator[Line]], Iterator[LogRecord]]


def record_parser(path: Path, sample: list[str], log_line_prefix: str | None,
                  diags: FileDiagnostics, growing: bool) -> RecordParser:
    """The record parser for the file's format (sniffed from ``sample``)."""
    kind = detect_format(path, sample[0] if sample else "")
    if kind == "csv":
        return lambda lines: _csv_records(lines, diags, growing)
    if kind == "json":
        return lambda lines: _json_records(lines, diags)
    prefix = log_line_prefix if log_line_prefix is not None else detect_prefix(sample)
    regex = prefix_regex(prefix)
    return lambda lines: _stderr_records(lines, regex, diags, growing)
