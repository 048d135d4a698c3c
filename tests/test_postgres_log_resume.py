"""Resumable log reading (read_postgres_log's start_offset / position / growing).

The property: however a read is cut (the consumer stops after any event, or the file
is read while only part of it is written) and resumed from the saved position, the
events are exactly those of one uninterrupted read: nothing lost, nothing repeated.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from s3lineage.collect import CollectReport
from s3lineage.collect.postgres_logs import read_postgres_log
from s3lineage.model import QueryEvent

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "postgres"
DEMO = FIX.parent / "demo" / "postgres"
STATEMENT_ALL_PREFIX = "%m %c %l %v %x %e %Q [%p] %q%u@%d %a "
LOGS = [
    (FIX / "mindur.csv", None),
    (FIX / "mindur.json", None),
    (FIX / "statement_all.log", STATEMENT_ALL_PREFIX),  # log_statement = all: pending statements
    (DEMO / "postgresql.csv", None),
    (DEMO / "postgresql.log", None),
]


def key(event: QueryEvent) -> tuple[Any, ...]:
    return (event.text, event.location, event.session_id, event.search_path, event.time,
            event.query_id, event.user)


def read(path: Path, prefix: str | None, position: dict[str, Any] | None = None,
         growing: bool = False, stop_after: int | None = None) -> list[QueryEvent]:
    """Read from ``position`` (updated in place); stop after ``stop_after`` events."""
    start = position.get("offset", 0) if position else 0
    events: list[QueryEvent] = []
    reader = read_postgres_log(path, namespace=None, default_database="db",
                               log_line_prefix=prefix, report=CollectReport(),
                               start_offset=start, position=position, growing=growing)
    for event in reader:
        events.append(event)
        if stop_after is not None and len(events) >= stop_after:
            break
    return events


@pytest.mark.parametrize(("path", "prefix"), LOGS, ids=lambda p: getattr(p, "name", ""))
def test_stopping_after_any_event_and_resuming_gives_the_same_events(path, prefix) -> None:
    whole = [key(e) for e in read(path, prefix)]
    assert whole
    for stop in range(1, len(whole) + 1):
        position: dict[str, Any] = {}
        first = read(path, prefix, position, stop_after=stop)
        saved = json.loads(json.dumps(position))  # what a state store would keep
        rest = read(path, prefix, saved)
        assert [key(e) for e in first + rest] == whole, f"stopped after {stop}"


@pytest.mark.parametrize(("path", "prefix"), LOGS, ids=lambda p: getattr(p, "name", ""))
def test_reading_a_growing_file_in_pieces_gives_the_same_events(path, prefix, tmp_path) -> None:
    data = path.read_bytes()
    whole = [key(e) for e in read(path, prefix)]
    growing = tmp_path / path.name
    for cuts in ([len(data) // 3, 2 * len(data) // 3], list(range(97, len(data), 211))):
        growing.write_bytes(b"")
        position: dict[str, Any] = {}
        got: list[tuple[Any, ...]] = []
        for cut in cuts:  # cut anywhere: mid-line, mid-row, between DETAIL and its message
            growing.write_bytes(data[:cut])
            got += [key(e) for e in read(growing, prefix, position, growing=True)]
        growing.write_bytes(data)
        got += [key(e) for e in read(growing, prefix, position)]  # rotated: complete now
        renamed = [k[:1] + (k[1].replace(str(path), str(growing)),) + k[2:] for k in whole]
        assert got == renamed, f"cuts {cuts[:3]}…"


def test_position_reaches_end_and_a_second_read_yields_nothing(tmp_path) -> None:
    position: dict[str, Any] = {}
    assert read(FIX / "mindur.csv", None, position)
    assert position["offset"] == (FIX / "mindur.csv").stat().st_size
    assert position.get("pending", []) == []
    assert read(FIX / "mindur.csv", None, position) == []


def test_search_path_and_line_numbers_survive_a_resume() -> None:
    path = FIX / "statement_all.log"
    whole = read(path, STATEMENT_ALL_PREFIX)
    after_set = next(i for i, e in enumerate(whole) if e.text.startswith("SET search_path")) + 1
    position: dict[str, Any] = {}
    read(path, STATEMENT_ALL_PREFIX, position, stop_after=after_set)
    assert position["search_paths"]
    rest = read(path, STATEMENT_ALL_PREFIX, position)
    assert rest[0].search_path == whole[after_set].search_path != ()
    assert rest[0].location == whole[after_set].location


def test_growing_file_keeps_an_undecided_statement_pending(tmp_path) -> None:
    log = tmp_path / "pg.log"
    head = ("2025-01-14 10:00:00.100 UTC [7] LOG:  statement: COPY t TO PROGRAM "
            "'aws s3 cp - s3://b/k.csv'\n"
            "2025-01-14 10:00:00.200 UTC [8] LOG:  duration: 0.1 ms  statement: SELECT 1\n"
            "2025-01-14 10:00:00.300 UTC [9] LOG:  checkpoint starting: time\n")
    log.write_text(head)
    position: dict[str, Any] = {}
    # pid 7's COPY may still fail; the last message may still get continuation lines
    assert [e.text for e in read(log, "%m [%p] ", position, growing=True)] == ["SELECT 1"]
    assert position["pending"] == [[0, 1]]
    assert position["offset"] == len(head) - len(head.splitlines(True)[-1])
    log.write_text(head + "2025-01-14 10:00:01.000 UTC [7] LOG:  duration: 900.1 ms\n"
                   "2025-01-14 10:00:02.000 UTC [9] LOG:  checkpoint complete\n")
    (event,) = read(log, "%m [%p] ", json.loads(json.dumps(position)), growing=True)
    assert event.text.startswith("COPY t TO PROGRAM") and event.location == f"{log}:1"


def test_growing_file_leaves_a_half_written_line(tmp_path) -> None:
    log = tmp_path / "pg.json"
    line = json.dumps({"timestamp": "2025-01-14 10:00:00.100 UTC", "error_severity": "LOG",
                       "message": "duration: 1 ms  statement: SELECT 1", "session_id": "a.1"})
    log.write_text(line[:30])
    position: dict[str, Any] = {}
    assert read(log, None, position, growing=True) == []
    assert position["offset"] == 0
    log.write_text(line + "\n")
    assert [e.text for e in read(log, None, position, growing=True)] == ["SELECT 1"]
