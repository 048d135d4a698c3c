"""The audit table: every edge with its confidence, status, review and what changed in the
latest run; filterable, sortable, exportable as CSV."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from s3lineage.audit.data import AuditData, AuditError, Edge
from s3lineage.audit.history import Change
from s3lineage.audit.reviews import Decision

SORT_KEYS = ("confidence", "first_seen", "last_seen", "runs", "source", "target", "kind",
             "status", "change", "key")
STATUS_FILTERS = ("active", "stale", "rejected", "accepted", "unreviewed", "re-review")
CSV_COLUMNS = ("key", "edge", "kind", "source", "target", "source_system", "target_system",
               "confidence", "match", "status", "review", "review_note", "change",
               "recognizers", "first_seen", "last_seen", "runs", "columns")


@dataclass(frozen=True, slots=True)
class Filters:
    systems: tuple[str, ...] = ()
    dataset: str | None = None
    below: float | None = None
    statuses: tuple[str, ...] = ()
    recognizer: str | None = None
    since: datetime | None = None
    changed_only: bool = False


@dataclass(slots=True)
class Row:
    edge: Edge
    source: str
    target: str
    source_system: str
    target_system: str
    decision: Decision | None
    change: Change | None

    @property
    def review(self) -> str:
        if self.decision is None:
            return ""
        return self.decision.status + (" (re-review)" if self.decision.needs_review else "")

    @property
    def first_seen(self) -> str:
        return str(self.edge.evidence.get("first_seen") or "")

    @property
    def last_seen(self) -> str:
        return str(self.edge.evidence.get("last_seen") or "")

    @property
    def runs(self) -> int:
        return int(self.edge.evidence.get("run_count") or 0)

    def as_dict(self) -> dict[str, Any]:
        return {
            "key": self.edge.key, "edge": self.edge.id, "kind": self.edge.kind,
            "source": self.source, "target": self.target,
            "source_system": self.source_system, "target_system": self.target_system,
            "confidence": round(self.edge.confidence, 3), "match": self.edge.data.get("match") or "",
            "status": self.edge.status, "review": self.review,
            "review_note": self.decision.note if self.decision else "",
            "change": self.change.label if self.change else "",
            "recognizers": " ".join(self.edge.evidence.get("recognizers", [])),
            "first_seen": self.first_seen, "last_seen": self.last_seen, "runs": self.runs,
            "columns": len(self.edge.data.get("columns", [])),
        }


def rows(data: AuditData, decisions: dict[str, Decision], changes: dict[str, Change],
         filters: Filters) -> list[Row]:
    """The edges that pass ``filters``."""
    wanted = _dataset_filter(data, filters.dataset)
    result = []
    for edge in data.edges.values():
        src, dst = data.datasets[edge.source], data.datasets[edge.target]
        row = Row(edge, src.display, dst.display, src.system, dst.system,
                  decisions.get(edge.id), changes.get(edge.id))
        if filters.systems and not {src.system, dst.system} & set(filters.systems):
            continue
        if wanted is not None and not wanted(edge):
            continue
        if filters.below is not None and not edge.confidence < filters.below:
            continue
        if filters.statuses and not any(_has_status(row, s) for s in filters.statuses):
            continue
        if filters.recognizer and not any(filters.recognizer.lower() in r.lower()
                                          for r in edge.evidence.get("recognizers", [])):
            continue
        if filters.since is not None:
            first = edge.evidence.get("first_seen")
            if not first or _aware(datetime.fromisoformat(first)) < filters.since:
                continue
        if filters.changed_only and (row.change is None or row.change.kind == "observed"):
            continue
        result.append(row)
    return result


def _aware(when: datetime) -> datetime:
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def _has_status(row: Row, status: str) -> bool:
    if status in ("active", "stale"):
        return row.edge.status == status
    if status == "unreviewed":
        return row.decision is None
    if status == "re-review":
        return row.decision is not None and row.decision.needs_review
    return row.decision is not None and row.decision.status == status


def _dataset_filter(data: AuditData, ref: str | None) -> Callable[[Edge], bool] | None:
    """One dataset when ``ref`` names exactly one; else a case-insensitive substring."""
    if not ref:
        return None
    found = data.find_datasets(ref)
    if len(found) == 1:
        only = found[0].id
        return lambda e: only in (e.source, e.target)
    needle = ref.lower()
    if not any(needle in d.id.lower() for d in data.datasets.values()):
        raise AuditError(f"--dataset {ref!r} matches no dataset")
    return lambda e: needle in e.source.lower() or needle in e.target.lower()


def sort_rows(items: list[Row], key: str) -> list[Row]:
    """Sort by one of :data:`SORT_KEYS`; a leading ``-`` sorts descending."""
    descending = key.startswith("-")
    name = key.lstrip("-")
    if name not in SORT_KEYS:
        raise AuditError(f"--sort takes one of {', '.join(SORT_KEYS)} (prefix - to reverse)")
    getters: dict[str, Callable[[Row], Any]] = {
        "confidence": lambda r: r.edge.confidence, "first_seen": lambda r: r.first_seen,
        "last_seen": lambda r: r.last_seen, "runs": lambda r: r.runs,
        "source": lambda r: r.source, "target": lambda r: r.target, "kind": lambda r: r.edge.kind,
        "status": lambda r: (r.edge.status, r.review), "change": lambda r: r.change.label if r.change else "",
        "key": lambda r: r.edge.key,
    }
    return sorted(items, key=lambda r: (getters[name](r), r.edge.id), reverse=descending)


def to_csv(items: list[Row]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in items:
        writer.writerow(row.as_dict())
    return buffer.getvalue()


def render_table(items: list[Row], width: int = 160) -> str:
    """A fixed-width table; long names are shortened from the left (the end matters)."""
    headers = ("key", "kind", "source", "target", "conf", "status", "review", "change", "runs", "last seen")
    lines = []
    body = []
    for row in items:
        d = row.as_dict()
        body.append((d["key"], d["kind"], d["source"], d["target"], f"{d['confidence']:.2f}",
                     d["status"], d["review"] or "-", d["change"] or "-", str(d["runs"]),
                     d["last_seen"][:19] or "-"))
    widths = [max([len(h)] + [len(cells[i]) for cells in body]) for i, h in enumerate(headers)]
    spare = width - sum(w for i, w in enumerate(widths) if i not in (2, 3)) - 2 * len(headers)
    cap = max(24, spare // 2)
    widths[2], widths[3] = min(widths[2], cap), min(widths[3], cap)
    lines.append("  ".join(h.ljust(w) for h, w in zip(headers, widths)).rstrip())
    for cells in body:
        lines.append("  ".join(_fit(c, w).ljust(w) for c, w in zip(cells, widths)).rstrip())
    return "\n".join(lines)


def _fit(text: str, width: int) -> str:
    return text if len(text) <= width else "…" + text[-(width - 1):]


def summarize_changes(changes: dict[str, Change], run_id: int | None, previous: int | None) -> str:
    if run_id is None:
        return "no successful run yet"
    counts: dict[str, int] = {}
    for change in changes.values():
        counts[change.kind] = counts.get(change.kind, 0) + 1
    order = ("new", "stale", "restored", "confidence", "lineage", "observed")
    parts = [f"{counts[k]} {('confidence changed' if k == 'confidence' else k)}" for k in order if counts.get(k)]
    since = f"run {previous}" if previous is not None else "no earlier run"
    return f"run {run_id} vs {since}: " + (", ".join(parts) if parts else "no edge changed")
