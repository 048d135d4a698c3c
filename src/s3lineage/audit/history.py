"""Edge history: each edge's status, confidence and evidence hash per run that changed it.

The state store's ``edges`` table holds only the latest state of each edge (with the run
that last changed it). :func:`record_run` appends what changed to ``audit_edge_history``
— from the run's save step (exact), or lazily whenever an audit command opens the store
(then runs nobody audited in between are folded into the latest). :func:`changes` tells,
for the latest run, which edges are new, gone stale, restored, changed confidence, or
changed lineage (columns, statements) since the run before.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from typing import Any

from s3lineage.audit.data import connection
from s3lineage.audit.reviews import evidence_hash

_SCHEMA = """
CREATE TABLE IF NOT EXISTS audit_edge_history (
    edge_id TEXT NOT NULL,
    run_id INTEGER NOT NULL,
    status TEXT NOT NULL,
    confidence REAL NOT NULL,
    evidence_hash TEXT NOT NULL,
    run_count INTEGER,
    PRIMARY KEY (edge_id, run_id)
) WITHOUT ROWID;
"""
_RECORDED = "audit_history_run"  # meta key: the last run recorded


def _db(store: Any) -> sqlite3.Connection:
    return connection(store, _SCHEMA)  # type: ignore[no-any-return]


def _recorded(db: sqlite3.Connection) -> int:
    row = db.execute("SELECT value FROM meta WHERE key = ?", (_RECORDED,)).fetchone()
    return int(row[0]) if row else 0


def record_run(store: Any, run_id: int | None = None) -> int:
    """Append history rows for edges changed since the last recorded run.

    Called with the run's id from its save step; without one (catch-up by an audit
    command) each changed edge is recorded under the run that last changed it.
    Returns how many rows were written.
    """
    db = _db(store)
    since = _recorded(db)
    rows = db.execute(
        "SELECT id, data, status, last_changed_run FROM edges WHERE last_changed_run > ?",
        (since,)).fetchall()
    if run_id is not None:
        rows = [r for r in rows if r[3] <= run_id]
    written = 0
    latest = since
    for edge_id, text, status, changed_run in rows:
        data = json.loads(text)
        db.execute(
            "INSERT OR REPLACE INTO audit_edge_history VALUES (?, ?, ?, ?, ?, ?)",
            (edge_id, changed_run, status, float(data.get("confidence", 1.0)), evidence_hash(data),
             int((data.get("evidence") or {}).get("run_count", 0))))
        written += 1
        latest = max(latest, changed_run)
    latest = max(latest, run_id or 0)
    if latest > since:
        db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (_RECORDED, str(latest)))
    return written


@dataclass(frozen=True, slots=True)
class Change:
    """How an edge changed in the latest run."""

    kind: str  # new | stale | restored | confidence | lineage | observed
    before: float | None = None  # confidence before (kind confidence)
    after: float | None = None

    @property
    def label(self) -> str:
        if self.kind == "confidence" and self.before is not None and self.after is not None:
            return f"confidence {self.before:.2f}→{self.after:.2f}"
        return self.kind


def latest_run(store: Any) -> int | None:
    db = store.db if hasattr(store, "db") else store
    row = db.execute("SELECT max(id) FROM runs WHERE outcome = 'ok'").fetchone()
    return int(row[0]) if row and row[0] is not None else None


def previous_run(store: Any, run_id: int) -> int | None:
    db = store.db if hasattr(store, "db") else store
    row = db.execute("SELECT max(id) FROM runs WHERE outcome = 'ok' AND id < ?", (run_id,)).fetchone()
    return int(row[0]) if row and row[0] is not None else None


def changes(store: Any, run_id: int | None = None) -> dict[str, Change]:
    """Edges the run ``run_id`` (default: the latest successful one) changed, and how.

    ``observed``: only new runs of the same statements (more runs, later last-seen).
    """
    db = _db(store)
    run_id = run_id if run_id is not None else latest_run(store)
    if run_id is None:
        return {}
    result: dict[str, Change] = {}
    rows = db.execute(
        "SELECT id, data, status, first_run FROM edges WHERE last_changed_run = ?", (run_id,))
    for edge_id, text, status, first_run in rows:
        data = json.loads(text)
        if first_run == run_id:
            result[edge_id] = Change("new")
            continue
        before = db.execute(
            "SELECT status, confidence, evidence_hash FROM audit_edge_history "
            "WHERE edge_id = ? AND run_id < ? ORDER BY run_id DESC LIMIT 1",
            (edge_id, run_id)).fetchone()
        confidence = float(data.get("confidence", 1.0))
        if status == "stale":
            result[edge_id] = Change("stale")
        elif before is None:
            result[edge_id] = Change("observed")  # no history kept for the run before
        elif before[0] == "stale":
            result[edge_id] = Change("restored")
        elif abs(before[1] - confidence) > 1e-9:
            result[edge_id] = Change("confidence", before[1], confidence)
        elif before[2] != evidence_hash(data):
            result[edge_id] = Change("lineage")
        else:
            result[edge_id] = Change("observed")
    return result
