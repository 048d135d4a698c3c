"""Collectors: turn what systems logged into QueryEvents (and catalog facts).

Contract: a collector is a generator of :class:`~s3lineage.model.QueryEvent`. It never
raises on bad input: it reports a :class:`~s3lineage.model.Diagnostic` naming the file
and line into the :class:`CollectReport` it was given and goes on with the rest.
Only a missing/unreadable file at open time raises :class:`~s3lineage.errors.InputError`
(the pipeline turns that into a diagnostic too).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from s3lineage.model import Diagnostic, Severity


@dataclass(slots=True)
class CollectReport:
    """Diagnostics and counters accumulated while collecting."""

    diagnostics: list[Diagnostic] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)

    def add(self, code: str, severity: Severity, message: str, where: str | None = None) -> None:
        self.diagnostics.append(Diagnostic(code, severity, message, where))

    def count(self, key: str, n: int = 1) -> None:
        self.counts[key] += n
