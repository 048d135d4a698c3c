"""Throughput and memory of the PostgreSQL csvlog reader on a synthetic log.

Synthesizes a csvlog of the requested size (streamed to a temp file in chunks, so the
generator itself stays small), reads it with read_postgres_log and prints MB/s,
events/s and memory at 10 %, 50 % and 100 % of the file: flat numbers mean the reader
does not accumulate state.

    python benchmarks/bench_log_reader.py [--size-mb 1024] [--tracemalloc] [--keep PATH]

The log mixes what a busy server writes: one-line and multi-line statements,
parse/bind/execute triplets with bound parameters, log_statement + bare duration
pairs, failed statements, and a steady churn of sessions (so the per-session state
and its cap are exercised).
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
import tracemalloc
from dataclasses import dataclass
from pathlib import Path

from s3lineage.collect import CollectReport
from s3lineage.collect.postgres_logs import read_postgres_log

CONCURRENT_SESSIONS = 300
CYCLES_PER_SESSION_EPOCH = 3000  # then a fresh set of session ids takes over
_HEAD = '{ts},"etl","appdb",{pid},"10.0.0.5:5{pid}",{sid},{line},"{tag}",{ts0},{vxid},0,'
_TAIL = ',,,,,,,,"nightly_export","client backend",,{qid}\n'
_EXPORT = (
    "duration: 2.{n:03d} ms  statement: SELECT * FROM aws_s3.query_export_to_s3(\n"
    "    'SELECT id, email, full_name, country FROM public.users WHERE id > {n}',\n"
    "    aws_commons.create_s3_uri('fintech-lake', 'exports/users/{n}/users.csv', "
    "'us-east-1'),\n    options := 'format csv, header true'\n);"
)
_PSTMT = (
    "SELECT * FROM aws_s3.query_export_to_s3($1, aws_commons.create_s3_uri($2, $3, $4), "
    "options := $5)"
)
_PARAMS = (
    "parameters: $1 = 'SELECT id, name FROM public.merchants WHERE name <> ''O''''Brien''', "
    "$2 = 'fintech-lake', $3 = 'exports/merchants/{n}.csv', $4 = 'us-east-1', $5 = NULL"
)


@dataclass(frozen=True)
class Checkpoint:
    fraction: float
    line: int  # the log line that crosses this fraction of the file
    offset: int  # bytes written up to it


def _q(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'


def _cycle(n: int) -> tuple[str, int]:
    """One burst of realistic rows for session n % CONCURRENT_SESSIONS; (text, lines)."""
    idx = n % CONCURRENT_SESSIONS
    epoch = n // CYCLES_PER_SESSION_EPOCH
    sid, pid = f"6b0b{epoch:04x}.{idx:x}", 10000 + idx
    sec = n % 60
    ts, ts0 = (
        f"2025-01-15 02:{(n // 60) % 60:02d}:{sec:02d}.{n % 1000:03d} UTC",
        "2025-01-15 02:00:00 UTC",
    )
    rows: list[tuple[str, str, str, str | None, int]] = [
        (
            "SELECT",
            "LOG,00000",
            (
                f"duration: 0.{n % 997:03d} ms  statement: "
                f"SELECT count(*) FROM public.users WHERE id > {n}"
            ),
            None,
            11,
        ),
        ("SELECT", "LOG,00000", _EXPORT.format(n=n), None, 12),
        ("PARSE", "LOG,00000", f"duration: 0.3 ms  parse <unnamed>: {_PSTMT}", None, 13),
        (
            "BIND",
            "LOG,00000",
            f"duration: 0.2 ms  bind <unnamed>: {_PSTMT}",
            _PARAMS.format(n=n),
            13,
        ),
        (
            "SELECT",
            "LOG,00000",
            f"duration: 1.1 ms  execute <unnamed>: {_PSTMT}",
            _PARAMS.format(n=n),
            13,
        ),
        (
            "COPY",
            "LOG,00000",
            (
                f"statement: COPY (SELECT id, amount FROM transactions WHERE id > {n}) "
                f"TO PROGRAM 'aws s3 cp - s3://fintech-lake/tx/{n}.csv' WITH (FORMAT csv)"
            ),
            None,
            0,
        ),
        ("COPY", "LOG,00000", "duration: 4.2 ms", None, 14),
        ("SELECT", "ERROR,42703", 'column "pan" does not exist', None, 0),
    ]
    out = []
    lines = 0
    for i, (tag, sev, msg, detail, qid) in enumerate(rows):
        head = _HEAD.format(
            ts=ts, pid=pid, sid=sid, line=n * 8 + i, tag=tag, ts0=ts0, vxid=f"{idx}/{n}"
        )
        stmt = "SELECT id, pan FROM cards" if sev.startswith("ERROR") else None
        tail = _TAIL.format(qid=qid)
        if stmt is not None:  # an ERROR row carries the failed statement in `query`
            tail = f",,,,,{_q(stmt)},,," + tail[len(",,,,,,,,") :]
        row = f"{head}{sev},{_q(msg)},{_q(detail) if detail else ''}{tail}"
        out.append(row)
        lines += row.count("\n")
    return "".join(out), lines


def synthesize_csvlog(
    path: Path, size_bytes: int, fractions: tuple[float, ...] = (0.1, 0.5, 1.0)
) -> list[Checkpoint]:
    """Write a csvlog of about ``size_bytes`` to ``path`` in ~4 MB chunks."""
    checkpoints: list[Checkpoint] = []
    pending = list(fractions)
    written = line = n = 0
    with path.open("w", encoding="utf-8", newline="") as f:
        while written < size_bytes:
            chunk: list[str] = []
            chunk_bytes = 0
            while chunk_bytes < 4 * 2**20 and written + chunk_bytes < size_bytes:
                text, lines = _cycle(n)
                n += 1
                chunk.append(text)
                chunk_bytes += len(text)  # ASCII only, so chars == bytes
                line += lines
                while pending and written + chunk_bytes >= pending[0] * size_bytes:
                    checkpoints.append(Checkpoint(pending.pop(0), line, written + chunk_bytes))
            f.write("".join(chunk))
            written += chunk_bytes
    for fraction in pending:  # rounding: the end of file reaches every remaining fraction
        checkpoints.append(Checkpoint(fraction, line, written))
    return checkpoints


def _rss_mb() -> float:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except OSError:
        return float("nan")


def _max_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


@dataclass
class Sample:
    fraction: float
    seconds: float
    mb: float
    events: int
    rss_mb: float
    max_rss_mb: float
    traced_peak_mb: float | None


def measure(path: Path, checkpoints: list[Checkpoint], *, trace: bool = False) -> list[Sample]:
    """Read ``path`` once, sampling speed and memory as each checkpoint line is passed."""
    if trace:
        tracemalloc.start()
    report = CollectReport()
    samples: list[Sample] = []
    todo = list(checkpoints)
    events = 0
    start = time.perf_counter()

    def sample(cp: Checkpoint) -> None:
        peak = tracemalloc.get_traced_memory()[1] / 2**20 if trace else None
        samples.append(
            Sample(
                cp.fraction,
                time.perf_counter() - start,
                cp.offset / 2**20,
                events,
                _rss_mb(),
                _max_rss_mb(),
                peak,
            )
        )

    try:
        for event in read_postgres_log(
            path, namespace=None, default_database=None, log_line_prefix=None, report=report
        ):
            events += 1
            if todo and int((event.location or ":0").rsplit(":", 1)[1]) >= todo[0].line:
                sample(todo.pop(0))
        for cp in todo:  # the last lines may hold no statement
            sample(cp)
    finally:
        if trace:
            tracemalloc.stop()
    return samples


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=float, default=1024)
    parser.add_argument(
        "--tracemalloc",
        action="store_true",
        help="also report Python heap peak (reads ~2-3x slower)",
    )
    parser.add_argument("--keep", type=Path, help="write the log here and keep it")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        path = args.keep or Path(tmp) / "postgresql.csv"
        t0 = time.perf_counter()
        checkpoints = synthesize_csvlog(path, int(args.size_mb * 2**20))
        print(
            f"synthesized {path.stat().st_size / 2**20:.0f} MB in {time.perf_counter() - t0:.1f}s"
        )
        print(
            f"{'done':>5} {'MB':>8} {'s':>7} {'MB/s':>7} {'events/s':>10} "
            f"{'RSS MB':>7} {'maxRSS':>7} {'heap peak':>9}"
        )
        for s in measure(path, checkpoints, trace=args.tracemalloc):
            heap = f"{s.traced_peak_mb:9.1f}" if s.traced_peak_mb is not None else f"{'-':>9}"
            print(
                f"{s.fraction:5.0%} {s.mb:8.0f} {s.seconds:7.1f} {s.mb / s.seconds:7.1f} "
                f"{s.events / s.seconds:10.0f} {s.rss_mb:7.1f} {s.max_rss_mb:7.1f} {heap}"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
