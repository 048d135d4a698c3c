"""Streaming reader for exported tables: CSV with a header, or JSON lines.

Collectors read catalog and history exports (QUERY_HISTORY, COPY_HISTORY, SHOW STAGES,
information_schema.columns …) that people produce with whatever tool is at hand, so the
reader is lenient about shape and strict about content:

- format per file: JSON lines when the first non-blank character is ``{`` or the name
  ends in ``.jsonl``/``.ndjson``/``.json``, else CSV (tab-separated for ``.tsv``);
  ``.gz`` files are decompressed on the fly;
- CSV: header in any case, UTF-8 BOM tolerated, quoted fields may span lines;
- keys are upper-cased (Snowflake's ``SHOW`` output is lower-case, its views upper-case);
- a bad row (malformed quoting, wrong field count, invalid JSON, non-UTF-8 bytes) becomes a
  ``bad_row`` / ``invalid_encoding`` warning naming ``file:line``, and reading goes on.

>>> import tempfile, pathlib
>>> from s3lineage.collect import CollectReport
>>> p = pathlib.Path(tempfile.mkdtemp()) / "t.csv"
>>> _ = p.write_text('query_id,Query_Text\\nq1,"SELECT 1\\nFROM t"\\n')
>>> list(read_rows(p, CollectReport()))
[(2, {'QUERY_ID': 'q1', 'QUERY_TEXT': 'SELECT 1\\nFROM t'})]
"""

from __future__ import annotations

import csv
import gzip
import json
import re
from collections import deque
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import BinaryIO, cast

from s3lineage.collect import CollectReport
from s3lineage.errors import InputError
from s3lineage.model import Severity

Row = dict[str, object]
"""One record: UPPER-cased column name → value (str for CSV, JSON types for JSON lines)."""

_JSON_SUFFIXES = {".jsonl", ".ndjson", ".json"}
# QUERY_TEXT alone may hold 100K characters (and more after CSV quoting doubles quotes);
# the csv module's default limit of 131072 would reject such rows.
_FIELD_LIMIT = 16 * 1024 * 1024
# After an unterminated quote at end of file, re-read at most this many swallowed lines.
_MAX_REPLAY_LINES = 100_000

# (line number, decoded text, decoded cleanly)
_Line = tuple[int, str, bool]


def read_rows(path: Path | str, report: CollectReport) -> Iterator[tuple[int, Row]]:
    """Yield ``(line_number, row)`` for each good record of a CSV or JSON-lines file.

    Raises :class:`InputError` now (not on first iteration) when the file is missing.
    The line number is where the record starts (the header is line 1).
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: {'not a regular file' if path.exists() else 'no such file'}")
    return _read(path, report)


def _open(path: Path) -> BinaryIO:
    try:
        if path.suffix == ".gz":
            return cast(BinaryIO, gzip.open(path, "rb"))
        return path.open("rb")
    except OSError as exc:
        raise InputError(f"{path}: cannot open ({exc.strerror or exc})") from exc


def _read(path: Path, report: CollectReport) -> Iterator[tuple[int, Row]]:
    with _open(path) as handle:
        lines = _decoded_lines(handle, str(path), report)
        first = _first_nonblank(lines)
        if first is None:
            return
        stem_suffix = Path(path.stem).suffix if path.suffix == ".gz" else path.suffix
        lines_again = _chain_one(first, lines)
        if first[1].lstrip().startswith("{") or stem_suffix.lower() in _JSON_SUFFIXES:
            yield from _json_rows(lines_again, str(path), report)
        else:
            delimiter = "\t" if stem_suffix.lower() == ".tsv" else ","
            yield from _csv_rows(lines_again, str(path), report, delimiter)


def _decoded_lines(handle: BinaryIO, where: str, report: CollectReport) -> Iterator[_Line]:
    """Physical lines, decoded one by one so that one bad byte spoils one record only."""
    number = 0
    try:
        for number, raw in enumerate(handle, start=1):
            if number == 1 and raw.startswith(b"\xef\xbb\xbf"):
                raw = raw[3:]
            try:
                yield number, raw.decode("utf-8"), True
            except UnicodeDecodeError:
                # Keep the line (replacement characters) so CSV quoting stays in step.
                yield number, raw.decode("utf-8", errors="replace"), False
    except (OSError, EOFError) as exc:  # e.g. a truncated or corrupt .gz
        report.add(
            "unreadable_file",
            Severity.ERROR,
            f"read failed ({exc}); rest of file skipped",
            f"{where}:{number + 1}",
        )


def _first_nonblank(lines: Iterator[_Line]) -> _Line | None:
    for line in lines:
        if line[1].strip():
            return line
    return None


def _chain_one(first: _Line, rest: Iterator[_Line]) -> Iterator[_Line]:
    yield first
    yield from rest


# --- JSON lines -------------------------------------------------------------------------


def _json_rows(
    lines: Iterable[_Line], where: str, report: CollectReport
) -> Iterator[tuple[int, Row]]:
    for number, text, clean in lines:
        if not text.strip():
            continue
        at = f"{where}:{number}"
        if not clean:
            report.add("invalid_encoding", Severity.WARNING, "line is not valid UTF-8; skipped", at)
            continue
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            report.add("bad_row", Severity.WARNING, f"invalid JSON ({exc.msg}); skipped", at)
            continue
        if not isinstance(value, dict):
            report.add("bad_row", Severity.WARNING, "JSON line is not an object; skipped", at)
            continue
        yield number, {str(k).strip().upper(): v for k, v in value.items()}


# --- CSV --------------------------------------------------------------------------------


class _Feed:
    """Feeds lines to csv.reader and remembers which lines the current record used.

    csv.reader only reports how many lines it consumed; keeping the lines themselves
    gives each record its start line, tells which records hold undecodable bytes, and
    lets a record that swallowed the rest of the file (unterminated quote) be re-read.
    """

    def __init__(self, lines: Iterable[_Line]) -> None:
        self._source = iter(lines)
        self._pending: deque[_Line] = deque()
        self.record: list[_Line] = []
        self.exhausted = False

    def texts(self) -> Iterator[str]:
        while True:
            if self._pending:
                line = self._pending.popleft()
            else:
                next_line = next(self._source, None)
                if next_line is None:
                    self.exhausted = True
                    return
                line = next_line
            self.record.append(line)
            yield line[1]

    def replay(self, lines: list[_Line]) -> None:
        self._pending.extend(lines)
        self.exhausted = False


def _csv_records(
    lines: Iterable[_Line], where: str, report: CollectReport, delimiter: str
) -> Iterator[tuple[list[_Line], list[str]]]:
    """Parsed records with the physical lines they span; malformed ones are reported."""
    csv.field_size_limit(max(csv.field_size_limit(), _FIELD_LIMIT))
    feed = _Feed(lines)
    reader = csv.reader(feed.texts(), delimiter=delimiter, strict=True)
    while True:
        feed.record = []
        try:
            fields = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            start = feed.record[0][0] if feed.record else "?"
            report.add(
                "bad_row", Severity.WARNING, f"malformed CSV ({exc}); skipped", f"{where}:{start}"
            )
            if feed.exhausted and len(feed.record) > 1:
                # An unterminated quote ate everything after it: re-read those lines.
                feed.replay(feed.record[1 : 1 + _MAX_REPLAY_LINES])
                reader = csv.reader(feed.texts(), delimiter=delimiter, strict=True)
            continue
        if fields:  # csv.reader gives [] for a blank line
            yield feed.record, fields


def _csv_rows(
    lines: Iterable[_Line], where: str, report: CollectReport, delimiter: str
) -> Iterator[tuple[int, Row]]:
    header: list[str] | None = None
    for record, fields in _csv_records(lines, where, report, delimiter):
        start = record[0][0]
        bad = next((n for n, _, clean in record if not clean), None)
        if header is None:
            if bad is not None:
                report.add(
                    "invalid_encoding",
                    Severity.ERROR,
                    "header is not valid UTF-8; file skipped",
                    f"{where}:{bad}",
                )
                return
            header = [f.strip().upper() for f in fields]
            continue
        if bad is not None:
            report.add(
                "invalid_encoding",
                Severity.WARNING,
                "row is not valid UTF-8; skipped",
                f"{where}:{bad}",
            )
            continue
        if len(fields) != len(header):
            report.add(
                "bad_row",
                Severity.WARNING,
                f"expected {len(header)} fields, got {len(fields)}; skipped",
                f"{where}:{start}",
            )
            continue
        yield start, dict(zip(header, fields, strict=True))


# --- cell helpers -----------------------------------------------------------------------


def cell(row: Row, *keys: str) -> str | None:
    """The first non-empty value among ``keys`` as text, else None.

    >>> cell({"A": "", "B": 7}, "A", "B")
    '7'
    """
    for key in keys:
        value = row.get(key)
        if value is None:
            continue
        if isinstance(value, str):
            if value.strip():
                return value
            continue
        if isinstance(value, (dict, list)):
            return json.dumps(value)
        return str(value)
    return None


def parse_int(value: object) -> int | None:
    """An int from ``'42'``, ``'42.0'``, ``'1,234'`` or a number; None for empty or junk.

    >>> parse_int(""), parse_int("1,234"), parse_int(3.0), parse_int("n/a")
    (None, 1234, 3, None)
    """
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value)
    text = str(value).strip().replace(",", "").replace("_", "")
    if not text:
        return None
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return int(float(text))
    except (ValueError, OverflowError):
        return None


_TIMESTAMP = re.compile(
    r"""^(?P<date>\d{4}-\d{2}-\d{2})
        (?:[T\s](?P<time>\d{1,2}:\d{2}(?::\d{2})?)(?:[.,](?P<frac>\d+))?)?
        \s*(?P<tz>Z|UTC|[+-]\d{2}(?::?\d{2})?)?$""",
    re.VERBOSE | re.IGNORECASE,
)
_EPOCH = re.compile(r"^\d{9,13}(?:\.\d+)?$")


def parse_timestamp(value: object) -> datetime | None:
    """A timezone-aware UTC datetime from a Snowflake/ISO timestamp; naive means UTC.

    Accepts ``2025-01-15 10:00:00.123 +0000`` (Snowflake's export format, up to
    nanoseconds), ISO 8601 with ``Z`` or an offset, a bare date, and epoch seconds
    (Snowflake's JSON result format). Returns None for empty or unparseable values.

    >>> parse_timestamp("2025-01-15 10:00:00.123456789 -0800").isoformat()
    '2025-01-15T18:00:00.123456+00:00'
    >>> parse_timestamp("2025-01-15T10:00:00Z") == parse_timestamp("2025-01-15 10:00:00")
    True
    """
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    if value is None or isinstance(value, bool):
        return None
    text = str(value).strip()
    if isinstance(value, (int, float)) or _EPOCH.match(text):
        return _from_epoch(float(text))
    match = _TIMESTAMP.match(text)
    if not match:
        return None
    clock = (match["time"] or "00:00:00").split(":")
    frac = (match["frac"] or "")[:6].ljust(6, "0")
    try:
        naive = datetime.fromisoformat(match["date"]).replace(
            hour=int(clock[0]),
            minute=int(clock[1]),
            second=int(clock[2]) if len(clock) > 2 else 0,
            microsecond=int(frac),
        )
    except ValueError:
        return None
    return naive.replace(tzinfo=_offset(match["tz"])).astimezone(UTC)


def _offset(tz: str | None) -> timezone:
    if not tz or tz.upper() in {"Z", "UTC"}:
        return UTC
    sign = -1 if tz[0] == "-" else 1
    digits = tz[1:].replace(":", "")
    minutes = int(digits[:2]) * 60 + (int(digits[2:4]) if len(digits) >= 4 else 0)
    return timezone(sign * timedelta(minutes=minutes))


def _from_epoch(seconds: float) -> datetime | None:
    if seconds > 1e11:  # milliseconds
        seconds /= 1000
    try:
        return datetime.fromtimestamp(seconds, UTC)
    except (OverflowError, OSError, ValueError):
        return None
