"""One example SQL text per statement fingerprint, so ``explain`` can show the SQL.

The state store keeps statement groups (resolution + evidence with fingerprints) but not
the text. A scheduled run samples the first text of every *new* fingerprint that produced
lineage (:class:`StatementSampler`, attached to the run's graph builder) and writes them
to the table ``audit_statements`` in the run's final transaction. Texts are stored as
logged (literals included: the state store is as private as the logs it was read from);
they are shown redacted unless a user asks for literals.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from s3lineage.audit.data import connection
from s3lineage.model import Dialect, QueryEvent
from s3lineage.resolve.sqlglot_adapter import redact_literals

MAX_TEXT_CHARS = 100_000  # longer statements are cut (and marked) in the sample
MAX_NEW_PER_RUN = 100_000  # bounded memory for a run full of distinct statements

_SCHEMA = """
CREATE TABLE IF NOT EXISTS audit_statements (
    fingerprint TEXT PRIMARY KEY,
    dialect TEXT NOT NULL,
    text TEXT NOT NULL,
    location TEXT,
    query_id TEXT,
    first_run INTEGER
);
"""


@dataclass(frozen=True, slots=True)
class StatementText:
    fingerprint: str
    dialect: str
    text: str
    location: str | None
    query_id: str | None

    def shown(self, show_literals: bool = False) -> str:
        """The text as a user may see it: literals redacted unless ``show_literals``."""
        if show_literals:
            return self.text
        try:
            return redact_literals(self.text, Dialect(self.dialect))
        except ValueError:
            return "<statement redacted>"


def _db(store: Any) -> sqlite3.Connection:
    return connection(store, _SCHEMA)  # type: ignore[no-any-return]


class StatementSampler:
    """Keeps the first text of each fingerprint not yet stored.

    >>> sampler = StatementSampler(known=set())
    >>> sampler.observe(QueryEvent("COPY t TO STDOUT", Dialect.POSTGRES, location="f:1"), "fp1")
    >>> sorted(sampler.pending)
    ['fp1']
    """

    def __init__(self, known: set[str]) -> None:
        self.known = known
        self.pending: dict[str, StatementText] = {}

    @classmethod
    def for_store(cls, store: Any) -> StatementSampler:
        db = _db(store)
        return cls({row[0] for row in db.execute("SELECT fingerprint FROM audit_statements")})

    def attach(self, builder: Any) -> StatementSampler:
        """Observe every statement the builder is given (through its observer list)."""

        def observe(event: QueryEvent, resolution: Any, fingerprint: str) -> None:
            if resolution.outputs:
                self.observe(event, fingerprint)

        builder.observers.append(observe)
        return self

    def observe(self, event: QueryEvent, fingerprint: str) -> None:
        if not fingerprint or fingerprint in self.known or fingerprint in self.pending:
            return
        if len(self.pending) >= MAX_NEW_PER_RUN:
            return
        text = event.text
        if len(text) > MAX_TEXT_CHARS:
            text = text[:MAX_TEXT_CHARS] + "\n-- … (cut by s3lineage)"
        self.pending[fingerprint] = StatementText(
            fingerprint, str(event.dialect), text, event.location, event.query_id)

    def save(self, store: Any, run_id: int | None) -> int:
        """Write the sampled texts (inside the run's transaction); returns how many."""
        db = _db(store)
        db.executemany(
            "INSERT OR IGNORE INTO audit_statements VALUES (?, ?, ?, ?, ?, ?)",
            [(s.fingerprint, s.dialect, s.text, s.location, s.query_id, run_id)
             for s in self.pending.values()])
        return len(self.pending)  # kept: saving again (a retried transaction) is harmless


def statement_texts(store: Any, fingerprints: Iterable[str]) -> dict[str, StatementText]:
    """The stored example text of each fingerprint that has one."""
    db = _db(store)
    wanted = sorted(set(fingerprints))
    found: dict[str, StatementText] = {}
    for start in range(0, len(wanted), 500):
        chunk = wanted[start:start + 500]
        for row in db.execute(
                "SELECT fingerprint, dialect, text, location, query_id FROM audit_statements "
                f"WHERE fingerprint IN ({','.join('?' * len(chunk))})", chunk):
            found[row[0]] = StatementText(*row)
    return found
