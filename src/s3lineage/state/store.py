"""The state store: embedded SQLite holding what scheduled runs learned.

Per-source cursors (watermarks), the resolution cache, statement groups with their
evidence, COPY_HISTORY loads, stage definitions, catalogs, every edge with its
first/last-seen times and status, and a history of runs. A run writes everything in one
transaction at the end, so a run that dies midway leaves the previous state intact and
the next run redoes its work. One run at a time: :class:`StateLock`.
"""

from __future__ import annotations

import fcntl
import json
import os
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from s3lineage.errors import S3LineageError

SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS cursors (
    source TEXT PRIMARY KEY, cursor TEXT NOT NULL, updated_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS resolutions (
    cache_key TEXT PRIMARY KEY, resolution TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS groups (
    key TEXT PRIMARY KEY, namespace TEXT, resolution TEXT NOT NULL, evidence TEXT NOT NULL,
    location TEXT, times TEXT, last_observed TEXT, updated_run INTEGER);
CREATE TABLE IF NOT EXISTS seen (
    source TEXT NOT NULL, key TEXT NOT NULL, PRIMARY KEY (source, key)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS copy_loads (
    key TEXT PRIMARY KEY, namespace TEXT NOT NULL, load TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS stages (
    namespace TEXT NOT NULL, name TEXT NOT NULL, url TEXT, listed INTEGER NOT NULL,
    defined_at TEXT NOT NULL DEFAULT '', PRIMARY KEY (namespace, name, listed, defined_at));
CREATE TABLE IF NOT EXISTS catalog (
    namespace TEXT NOT NULL, tbl TEXT NOT NULL, columns TEXT NOT NULL,
    PRIMARY KEY (namespace, tbl));
CREATE TABLE IF NOT EXISTS edges (
    id TEXT PRIMARY KEY, source TEXT NOT NULL, target TEXT NOT NULL, kind TEXT NOT NULL,
    data TEXT NOT NULL, status TEXT NOT NULL, first_run INTEGER NOT NULL,
    last_changed_run INTEGER NOT NULL, last_observed TEXT, stale_since TEXT);
CREATE TABLE IF NOT EXISTS datasets (id TEXT PRIMARY KEY, data TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT, started_at TEXT NOT NULL, ended_at TEXT,
    outcome TEXT NOT NULL, full_refresh INTEGER NOT NULL DEFAULT 0, counts TEXT, error TEXT);
"""


class StateBusy(S3LineageError):
    """Another run holds the state lock."""


def utcnow() -> datetime:
    return datetime.now(UTC)


class StateLock:
    """An exclusive lock next to the database (``state.db.lock``), held for a whole run.

    The lock is the kernel's (flock), so a run killed with SIGKILL releases it.
    """

    def __init__(self, db_path: Path, timeout: float = 0.0) -> None:
        self.path = Path(f"{db_path}.lock")
        self.timeout = timeout
        self._fd: int | None = None

    def __enter__(self) -> StateLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    holder = os.read(fd, 200).decode(errors="replace").strip() or "unknown"
                    os.close(fd)
                    raise StateBusy(
                        f"another s3lineage run holds the state lock {self.path} ({holder}); "
                        "this run did nothing. Wait for it, or set [state] lock_timeout_seconds "
                        "to wait automatically"
                    ) from None
                time.sleep(0.1)
        os.ftruncate(fd, 0)
        os.write(fd, f"pid {os.getpid()} since {utcnow().isoformat(timespec='seconds')}".encode())
        self._fd = fd
        return self

    def __exit__(self, *exc: object) -> None:
        if self._fd is not None:
            os.ftruncate(self._fd, 0)
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None


class StateStore:
    """Thin typed access to the SQLite file; callers group writes in :meth:`transaction`."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.db = sqlite3.connect(self.path, isolation_level=None, timeout=30)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")
            self.db.executescript(_SCHEMA)
        except sqlite3.DatabaseError as err:
            raise S3LineageError(f"state store {self.path} is unusable: {err}") from err
        version = self.meta("schema_version")
        if version is None:
            self.set_meta("schema_version", str(SCHEMA_VERSION))
        elif int(version) > SCHEMA_VERSION:
            raise S3LineageError(
                f"state store {self.path} was written by a newer s3lineage (schema {version})")

    def close(self) -> None:
        self.db.close()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    # --- meta and runs ------------------------------------------------------------------

    def meta(self, key: str) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def set_meta(self, key: str, value: str) -> None:
        self.db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))

    def start_run(self, full_refresh: bool) -> int:
        """Record a run as 'running' at once (its own commit), so a crash leaves a trace."""
        self.db.execute("UPDATE runs SET outcome = 'interrupted' WHERE outcome = 'running'")
        cur = self.db.execute(
            "INSERT INTO runs (started_at, outcome, full_refresh) VALUES (?, 'running', ?)",
            (utcnow().isoformat(), int(full_refresh)))
        return int(cur.lastrowid or 0)

    def finish_run(self, run_id: int, outcome: str, counts: dict[str, Any], error: str | None = None) -> None:
        self.db.execute(
            "UPDATE runs SET ended_at = ?, outcome = ?, counts = ?, error = ? WHERE id = ?",
            (utcnow().isoformat(), outcome, json.dumps(counts, sort_keys=True), error, run_id))

    def runs(self, limit: int = 20) -> list[dict[str, Any]]:
        rows = self.db.execute(
            "SELECT id, started_at, ended_at, outcome, full_refresh, counts, error FROM runs "
            "ORDER BY id DESC LIMIT ?", (limit,)).fetchall()
        keys = ("id", "started_at", "ended_at", "outcome", "full_refresh", "counts", "error")
        return [dict(zip(keys, r)) | {"counts": json.loads(r[5]) if r[5] else {}} for r in rows]

    # --- cursors ------------------------------------------------------------------------

    def cursor(self, source: str) -> dict[str, Any]:
        row = self.db.execute("SELECT cursor FROM cursors WHERE source = ?", (source,)).fetchone()
        return json.loads(row[0]) if row else {}

    def save_cursor(self, source: str, cursor: dict[str, Any]) -> None:
        self.db.execute("INSERT OR REPLACE INTO cursors VALUES (?, ?, ?)",
                        (source, json.dumps(cursor, sort_keys=True, default=str), utcnow().isoformat()))

    # --- seen keys (dedupe of re-read exports) -------------------------------------------

    def seen(self, source: str, keys: list[str]) -> set[str]:
        found: set[str] = set()
        for start in range(0, len(keys), 500):
            chunk = keys[start:start + 500]
            marks = ",".join("?" * len(chunk))
            found.update(r[0] for r in self.db.execute(
                f"SELECT key FROM seen WHERE source = ? AND key IN ({marks})", (source, *chunk)))
        return found

    def add_seen(self, source: str, keys: list[str]) -> None:
        self.db.executemany("INSERT OR IGNORE INTO seen VALUES (?, ?)", [(source, k) for k in keys])

    # --- resolution cache ---------------------------------------------------------------

    def resolution(self, cache_key: str) -> str | None:
        row = self.db.execute("SELECT resolution FROM resolutions WHERE cache_key = ?",
                              (cache_key,)).fetchone()
        return row[0] if row else None

    def save_resolution(self, cache_key: str, data: str) -> None:
        self.db.execute("INSERT OR REPLACE INTO resolutions VALUES (?, ?)", (cache_key, data))

    # --- groups, loads, stages, catalog ----------------------------------------------------

    def groups(self) -> Iterator[tuple[str, str, str, str, str | None, str | None]]:
        yield from self.db.execute(
            "SELECT key, resolution, evidence, location, times, last_observed FROM groups")

    def save_group(self, key: str, namespace: str, resolution: str, evidence: str,
                   location: str, times: str | None, last_observed: str | None, run_id: int) -> None:
        self.db.execute("INSERT OR REPLACE INTO groups VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                        (key, namespace, resolution, evidence, location, times, last_observed, run_id))

    def copy_loads(self) -> Iterator[tuple[str, str]]:
        yield from self.db.execute("SELECT namespace, load FROM copy_loads")

    def save_copy_load(self, key: str, namespace: str, data: str) -> None:
        self.db.execute("INSERT OR IGNORE INTO copy_loads VALUES (?, ?, ?)", (key, namespace, data))

    def stages(self) -> Iterator[tuple[str, str, str | None, int, str]]:
        yield from self.db.execute("SELECT namespace, name, url, listed, defined_at FROM stages")

    def save_stage(self, namespace: str, name: str, url: str | None, listed: bool, defined_at: str = "") -> None:
        if listed:
            self.db.execute("DELETE FROM stages WHERE namespace = ? AND name = ? AND listed = 1",
                            (namespace, name))
        self.db.execute("INSERT OR REPLACE INTO stages VALUES (?, ?, ?, ?, ?)",
                        (namespace, name, url, int(listed), defined_at))

    def catalog(self) -> Iterator[tuple[str, str, str]]:
        yield from self.db.execute("SELECT namespace, tbl, columns FROM catalog")

    def save_catalog_table(self, namespace: str, table: tuple[str, ...], columns: tuple[str, ...]) -> None:
        self.db.execute("INSERT OR REPLACE INTO catalog VALUES (?, ?, ?)",
                        (namespace, json.dumps(list(table)), json.dumps(list(columns))))

    # --- edges and datasets -------------------------------------------------------------

    def edges(self) -> dict[str, dict[str, Any]]:
        rows = self.db.execute(
            "SELECT id, source, target, kind, data, status, first_run, last_changed_run, "
            "last_observed, stale_since FROM edges")
        keys = ("id", "source", "target", "kind", "data", "status", "first_run",
                "last_changed_run", "last_observed", "stale_since")
        return {r[0]: dict(zip(keys, r)) for r in rows}

    def save_edge(self, row: dict[str, Any]) -> None:
        self.db.execute(
            "INSERT OR REPLACE INTO edges VALUES (:id, :source, :target, :kind, :data, :status, "
            ":first_run, :last_changed_run, :last_observed, :stale_since)", row)

    def save_dataset(self, dataset_id: str, data: str) -> None:
        self.db.execute("INSERT OR REPLACE INTO datasets VALUES (?, ?)", (dataset_id, data))

    def datasets(self) -> dict[str, str]:
        return dict(self.db.execute("SELECT id, data FROM datasets"))
