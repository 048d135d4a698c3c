"""Aggregates diagnostics over a run: a log with a million broken lines reports one entry
per distinct problem, with a count and the first few places it occurred."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from s3lineage.model import Diagnostic, Severity

MAX_PLACES = 10


@dataclass(slots=True)
class Entry:
    code: str
    severity: Severity
    message: str
    count: int = 0
    where: list[str] = field(default_factory=list)


class DiagnosticLog:
    def __init__(self) -> None:
        self._entries: dict[tuple[str, Severity, str], Entry] = {}

    def add(self, diagnostic: Diagnostic, where: str | None = None) -> None:
        key = (diagnostic.code, diagnostic.severity, diagnostic.message)
        entry = self._entries.get(key)
        if entry is None:
            entry = self._entries[key] = Entry(*key)
        entry.count += 1
        place = diagnostic.where or where
        if place and len(entry.where) < MAX_PLACES and place not in entry.where:
            entry.where.append(place)

    def extend(self, diagnostics, where: str | None = None) -> None:
        for diagnostic in diagnostics:
            self.add(diagnostic, where)

    def entries(self) -> list[Entry]:
        return sorted(self._entries.values(), key=lambda e: (-e.severity.rank, e.code, e.message))

    def by_severity(self) -> Counter[str]:
        counts: Counter[str] = Counter()
        for entry in self._entries.values():
            counts[entry.severity.value] += entry.count
        return counts

    def worst(self) -> Severity | None:
        ranked = sorted((e.severity for e in self._entries.values()), key=lambda s: s.rank)
        return ranked[-1] if ranked else None

    def codes(self) -> set[str]:
        return {e.code for e in self._entries.values()}

    def to_json(self) -> list[dict[str, Any]]:
        return [
            {"code": e.code, "severity": e.severity.value, "message": e.message,
             "count": e.count, "where": list(e.where)}
            for e in self.entries()
        ]
