"""Review decisions: an analyst accepts or rejects an inferred edge.

Decisions live in the state store (table ``audit_reviews``, created here) and travel as a
human-readable TOML file teams keep in git (``s3lineage review export|import``).

Semantics (the publisher reads them through :func:`load_decisions`):

- a **rejected** edge is never published and is shown as rejected in every export;
- an **accepted** edge keeps being published even when a run no longer infers it;
- each decision records the edge's :func:`evidence_hash` when it was made; when the
  edge's evidence later changes (other columns, statements, recognizer, match or
  confidence — not mere new runs of the same statements) the decision still applies but
  is flagged for re-review (:attr:`Decision.needs_review`).
"""

from __future__ import annotations

import getpass
import hashlib
import json
import os
import sqlite3
import tomllib
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from s3lineage.audit.data import connection
from s3lineage.errors import S3LineageError

STATUSES = ("accepted", "rejected")
FILE_FORMAT = "s3lineage.reviews"
FILE_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS audit_reviews (
    edge_id TEXT PRIMARY KEY,
    status TEXT NOT NULL CHECK (status IN ('accepted', 'rejected')),
    note TEXT NOT NULL DEFAULT '',
    decided_at TEXT NOT NULL,
    decided_by TEXT,
    evidence_hash TEXT NOT NULL
);
"""
_HASHED_EVIDENCE = ("fingerprints", "recognizers")


class ReviewError(S3LineageError):
    """A bad decision file or request."""


@dataclass(frozen=True, slots=True)
class Decision:
    """A reviewer's decision on one edge."""

    edge_id: str
    status: str  # accepted | rejected
    note: str
    decided_at: datetime
    evidence_hash: str  # of the edge's evidence when decided ("" when it was unknown)
    decided_by: str | None = None
    current_hash: str | None = None  # of the edge's evidence now; None: not in the store

    @property
    def rejected(self) -> bool:
        return self.status == "rejected"

    @property
    def accepted(self) -> bool:
        return self.status == "accepted"

    @property
    def needs_review(self) -> bool:
        """The edge's evidence changed since the decision: someone should look again."""
        return self.current_hash is not None and self.current_hash != self.evidence_hash

    def to_json(self) -> dict[str, Any]:
        """The ``review`` field of an edge in the JSON export (docs/graph-format.md)."""
        return {
            "status": self.status,
            "note": self.note,
            "decided_at": self.decided_at.isoformat(),
            "decided_by": self.decided_by,
            "needs_review": self.needs_review,
        }


def evidence_hash(edge_data: dict[str, Any]) -> str:
    """What a decision was about: the edge's lineage claim and the statements behind it.

    Covers kind, columns, indirect fields, match, confidence, statement fingerprints and
    recognizers — not run counts, times, query ids, users or locations, which change
    every time the same statements run again.
    """
    evidence = edge_data.get("evidence") or {}
    claim = {
        "source": edge_data.get("source"),
        "target": edge_data.get("target"),
        "kind": edge_data.get("kind"),
        "columns": edge_data.get("columns", []),
        "indirect": edge_data.get("indirect", []),
        "match": edge_data.get("match"),
        "confidence": round(float(edge_data.get("confidence", 1.0)), 3),
        **{key: sorted(evidence.get(key, [])) for key in _HASHED_EVIDENCE},
    }
    text = json.dumps(claim, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.blake2b(text.encode("utf-8"), digest_size=12).hexdigest()


def _db(store: Any) -> sqlite3.Connection:
    return connection(store, _SCHEMA)  # type: ignore[no-any-return]


def _current_hashes(db: sqlite3.Connection, edge_ids: list[str] | None = None) -> dict[str, str]:
    if edge_ids is None:
        rows = db.execute(
            "SELECT e.id, e.data FROM edges e JOIN audit_reviews r ON r.edge_id = e.id").fetchall()
    else:
        rows = [r for chunk in _chunks(edge_ids, 500) for r in db.execute(
            f"SELECT id, data FROM edges WHERE id IN ({','.join('?' * len(chunk))})", chunk)]
    return {edge_id: evidence_hash(json.loads(data)) for edge_id, data in rows}


def _chunks(items: list[str], size: int) -> list[list[str]]:
    return [items[i:i + size] for i in range(0, len(items), size)]


def load_decisions(store: Any) -> dict[str, Decision]:
    """Every decision, by edge id, with :attr:`Decision.current_hash` filled in.

    ``store`` is a :class:`~s3lineage.state.store.StateStore` (or its sqlite3 connection).
    """
    db = _db(store)
    current = _current_hashes(db)
    decisions = {}
    for edge_id, status, note, decided_at, decided_by, ev_hash in db.execute(
            "SELECT edge_id, status, note, decided_at, decided_by, evidence_hash "
            "FROM audit_reviews ORDER BY edge_id"):
        decisions[edge_id] = Decision(edge_id, status, note, datetime.fromisoformat(decided_at),
                                      ev_hash, decided_by, current.get(edge_id))
    return decisions


def review_marks(store: Any) -> dict[str, dict[str, Any]]:
    """``edge id → review JSON`` for the exports (``render(..., reviews=…)``)."""
    return {edge_id: d.to_json() for edge_id, d in load_decisions(store).items()}


def decide(store: Any, edge_id: str, status: str, note: str = "", *,
           decided_by: str | None = None, decided_at: datetime | None = None) -> Decision:
    """Record (or replace) the decision on an edge the store knows."""
    if status not in STATUSES:
        raise ReviewError(f"a decision is one of {', '.join(STATUSES)}, not {status!r}")
    db = _db(store)
    row = db.execute("SELECT data FROM edges WHERE id = ?", (edge_id,)).fetchone()
    if row is None:
        raise ReviewError(f"the state store has no edge {edge_id!r}")
    ev_hash = evidence_hash(json.loads(row[0]))
    decision = Decision(edge_id, status, note, decided_at or datetime.now(UTC), ev_hash,
                        decided_by if decided_by is not None else _whoami(), ev_hash)
    _save(db, decision)
    return decision


def clear(store: Any, edge_id: str) -> bool:
    """Forget the decision on an edge; False when there was none."""
    db = _db(store)
    return db.execute("DELETE FROM audit_reviews WHERE edge_id = ?", (edge_id,)).rowcount > 0


def _save(db: sqlite3.Connection, d: Decision) -> None:
    db.execute("INSERT OR REPLACE INTO audit_reviews VALUES (?, ?, ?, ?, ?, ?)",
               (d.edge_id, d.status, d.note, d.decided_at.isoformat(), d.decided_by, d.evidence_hash))


def _whoami() -> str | None:
    try:
        return os.environ.get("S3LINEAGE_REVIEWER") or getpass.getuser()
    except (KeyError, OSError):
        return None


# --- the decisions file (TOML) ----------------------------------------------------------


def export_decisions(store: Any, path: str | Path) -> int:
    """Write every decision to ``path`` as TOML (sorted by edge: stable diffs in git)."""
    decisions = load_decisions(store)
    Path(path).write_text(dumps_toml(list(decisions.values())), encoding="utf-8")
    return len(decisions)


def dumps_toml(decisions: list[Decision]) -> str:
    lines = [
        "# s3lineage review decisions: keep this file in git.",
        "# Load into a state store with: s3lineage review import FILE --config lineage.toml",
        "# status is accepted or rejected; evidence_hash is the edge's evidence when decided",
        "# (a decision whose edge's evidence changed since is flagged for re-review).",
        f'format = "{FILE_FORMAT}"',
        f"version = {FILE_VERSION}",
    ]
    for d in sorted(decisions, key=lambda d: d.edge_id):
        lines += ["", "[[decision]]", f"edge = {_toml_str(d.edge_id)}",
                  f"status = {_toml_str(d.status)}", f"note = {_toml_str(d.note)}",
                  f"decided_at = {_toml_datetime(d.decided_at)}"]
        if d.decided_by:
            lines.append(f"decided_by = {_toml_str(d.decided_by)}")
        lines.append(f"evidence_hash = {_toml_str(d.evidence_hash)}")
    return "\n".join(lines) + "\n"


def _toml_str(text: str) -> str:
    """A TOML basic string (quotes, backslashes and control characters escaped)."""
    out = ['"']
    for ch in text:
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{ord(ch):04X}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def _toml_datetime(when: datetime) -> str:
    when = when if when.tzinfo else when.replace(tzinfo=UTC)
    return when.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def loads_toml(text: str, source: str = "<decisions>") -> list[Decision]:
    """Parse a decisions file; every problem names the entry."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise ReviewError(f"{source}: not TOML: {err}") from err
    if data.get("format", FILE_FORMAT) != FILE_FORMAT:
        raise ReviewError(f"{source}: format is {data.get('format')!r}, expected {FILE_FORMAT!r}")
    if int(data.get("version", FILE_VERSION)) > FILE_VERSION:
        raise ReviewError(f"{source}: version {data['version']} is newer than this s3lineage reads")
    unknown = set(data) - {"format", "version", "decision"}
    if unknown:
        raise ReviewError(f"{source}: unknown keys {sorted(unknown)}")
    decisions = []
    allowed = {"edge", "status", "note", "decided_at", "decided_by", "evidence_hash"}
    for number, entry in enumerate(data.get("decision", []), start=1):
        where = f"{source}: decision #{number}"
        if not isinstance(entry, dict):
            raise ReviewError(f"{where}: not a table")
        extra = set(entry) - allowed
        if extra:
            raise ReviewError(f"{where}: unknown keys {sorted(extra)}")
        if not isinstance(entry.get("edge"), str) or not entry["edge"]:
            raise ReviewError(f"{where}: 'edge' (the edge id) is required")
        if entry.get("status") not in STATUSES:
            raise ReviewError(f"{where}: 'status' must be one of {', '.join(STATUSES)}")
        decided_at = entry.get("decided_at", datetime.now(UTC))
        if isinstance(decided_at, str):
            try:
                decided_at = datetime.fromisoformat(decided_at)
            except ValueError as err:
                raise ReviewError(f"{where}: decided_at {decided_at!r} is not a date-time") from err
        if not isinstance(decided_at, datetime):
            raise ReviewError(f"{where}: decided_at must be a date-time")
        if decided_at.tzinfo is None:
            decided_at = decided_at.replace(tzinfo=UTC)
        decisions.append(Decision(entry["edge"], entry["status"], str(entry.get("note", "")),
                                  decided_at, str(entry.get("evidence_hash", "")),
                                  entry.get("decided_by")))
    return decisions


@dataclass(slots=True)
class ImportReport:
    imported: int = 0
    unknown_edges: list[str] | None = None  # decisions on edges the store does not (yet) have
    removed: int = 0


def import_decisions(store: Any, path: str | Path, *, replace_all: bool = False) -> ImportReport:
    """Load a decisions file: its decisions replace the store's for the same edges.

    A decision without ``evidence_hash`` takes the edge's current one. Decisions on edges the
    store does not know are kept (a later run may infer them) and reported.
    ``replace_all`` also removes stored decisions the file does not list.
    """
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as err:
        raise ReviewError(f"cannot read {path}: {err.strerror}") from err
    decisions = loads_toml(text, str(path))
    db = _db(store)
    current = _current_hashes(db, [d.edge_id for d in decisions])
    report = ImportReport(unknown_edges=[])
    db.execute("BEGIN IMMEDIATE")
    try:
        if replace_all:
            listed = {d.edge_id for d in decisions}
            stored = [r[0] for r in db.execute("SELECT edge_id FROM audit_reviews")]
            for edge_id in stored:
                if edge_id not in listed:
                    db.execute("DELETE FROM audit_reviews WHERE edge_id = ?", (edge_id,))
                    report.removed += 1
        for decision in decisions:
            if decision.edge_id not in current:
                report.unknown_edges.append(decision.edge_id)  # type: ignore[union-attr]
            elif not decision.evidence_hash:
                decision = replace(decision, evidence_hash=current[decision.edge_id])
            _save(db, decision)
            report.imported += 1
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")
    return report


def review_marks_for(config: Any) -> dict[str, dict[str, Any]] | None:
    """Review marks from a loaded config's state store, for ``render(..., reviews=…)``;
    None when no state store exists yet (a first dry run)."""
    from s3lineage.audit.data import state_path
    from s3lineage.state.store import StateStore

    path = state_path(config)
    if not path.exists():
        return None
    store = StateStore(path)
    try:
        return review_marks(store)
    finally:
        store.close()
