"""Publish the inferred lineage to Atlan (the ``[atlan]`` section; docs/atlan.md).

>>> from s3lineage.publish import publish          # doctest: +SKIP
>>> report = publish(config, result.graph, store)  # doctest: +SKIP
>>> print(report.render())                          # doctest: +SKIP

Steps: choose the edges (kind and flags, review decisions, stale past retention) →
resolve connections and table/column endpoints by search → build the desired assets →
read what s3lineage owns in Atlan → plan → (unless ``dry_run``) execute the plan.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from s3lineage.config import Config
from s3lineage.graph.model import LineageEdge, LineageGraph
from s3lineage.publish.client import AtlanCalls, PublishError, make_client

LOG = logging.getLogger("s3lineage.publish")

__all__ = ["PublishError", "PublishReport", "ReportItem", "publish", "select_edges"]


@dataclass(slots=True)
class ReportItem:
    type_name: str  # an Atlan type, or "edge" / "column" for skipped graph items
    qualified_name: str
    name: str = ""
    reason: str = ""

    def to_json(self) -> dict[str, str]:
        return {"type": self.type_name, "qualified_name": self.qualified_name,
                "name": self.name, "reason": self.reason}


@dataclass(slots=True)
class PublishReport:
    """What a publish did (or, for a dry run, would do), with reasons."""

    dry_run: bool
    created: list[ReportItem] = field(default_factory=list)
    updated: list[ReportItem] = field(default_factory=list)
    restored: list[ReportItem] = field(default_factory=list)
    archived: list[ReportItem] = field(default_factory=list)
    skipped: list[ReportItem] = field(default_factory=list)
    failed: list[ReportItem] = field(default_factory=list)
    unchanged: int = 0
    reused: list[ReportItem] = field(default_factory=list)
    stats: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.failed

    def counts(self) -> dict[str, int]:
        return {"created": len(self.created), "updated": len(self.updated),
                "restored": len(self.restored), "archived": len(self.archived),
                "unchanged": self.unchanged, "skipped": len(self.skipped),
                "failed": len(self.failed), "reused": len(self.reused)}

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"dry_run": self.dry_run, "counts": self.counts(), "stats": self.stats}
        for name in ("created", "updated", "restored", "archived", "skipped", "failed", "reused"):
            out[name] = [item.to_json() for item in getattr(self, name)]
        return out

    def render(self, limit: int = 20) -> str:
        title = "s3lineage publish — dry run (nothing written)" if self.dry_run else "s3lineage publish"
        verb = {"created": "would create", "updated": "would update", "restored": "would restore",
                "archived": "would archive"} if self.dry_run else {}
        lines = [title]
        for name in ("created", "updated", "restored", "archived", "skipped", "failed"):
            items = getattr(self, name)
            lines.append(f"  {verb.get(name, name):<14} {len(items)}")
            for item in items[:limit]:
                why = f" — {item.reason}" if item.reason else ""
                lines.append(f"    {item.type_name} {item.name or item.qualified_name}{why}")
            if len(items) > limit:
                lines.append(f"    … {len(items) - limit} more (--json for all)")
        lines.append(f"  {'unchanged':<14} {self.unchanged}")
        lines.append(f"  {'reused':<14} {len(self.reused)} crawled asset(s) referenced, never written")
        if self.stats:
            lines.append(f"  requests {self.stats.get('requests', '?')} "
                         f"(writes {self.stats.get('writes', '?')}), "
                         f"{self.stats.get('seconds', 0):.2f}s")
        return "\n".join(lines)


def _load_decisions(store: Any) -> Mapping[str, Any]:
    """Review decisions from s3lineage.audit.reviews, when that feature is installed."""
    if store is None:
        return {}
    try:
        from s3lineage.audit.reviews import load_decisions
    except ImportError:
        return {}
    return load_decisions(store)


def _stored_statements(store: Any, edges: list[LineageEdge]) -> Mapping[str, str] | None:
    """Statement texts scheduled runs sampled into the state (s3lineage.audit.statements)."""
    if store is None or not hasattr(store, "db"):
        return None
    try:
        import sqlite3

        from s3lineage.audit.statements import statement_texts
    except ImportError:
        return None
    fingerprints = {f for edge in edges for f in edge.evidence.fingerprints}
    try:
        return {fp: sample.text for fp, sample in statement_texts(store, fingerprints).items()}
    except sqlite3.Error as err:  # an older state without the table: publish without SQL
        LOG.info("no statement texts in the state store (%s): processes keep their SQL", err)
        return None


def _decision_status(decision: Any) -> str | None:
    status = getattr(decision, "status", decision)
    return str(status) if status is not None else None


def select_edges(graph: LineageGraph, settings: Any, store: Any = None,
                 decisions: Mapping[str, Any] | None = None
                 ) -> tuple[list[LineageEdge], list[ReportItem], dict[str, str]]:
    """The edges to publish, the edges skipped (with reasons), and archive reasons by edge id.

    Rejected edges are never published; stale edges (past retention in the state store)
    are not published unless a reviewer accepted them.
    """
    rows: dict[str, dict[str, Any]] = store.edges() if store is not None else {}
    decided = decisions if decisions is not None else _load_decisions(store)
    chosen: list[LineageEdge] = []
    skipped: list[ReportItem] = []
    reasons: dict[str, str] = {}
    for edge in graph.edges():
        edge_id = f"{edge.source} -> {edge.target}"
        status = _decision_status(decided.get(edge_id))
        row = rows.get(edge_id)
        why: str | None = None
        if status == "rejected":
            why = "rejected in review"
        elif row is not None and row.get("status") == "stale" and status != "accepted":
            why = f"stale: not observed since {row.get('last_observed')} (past retention)"
        else:
            why = _kind_excluded(graph, edge, settings)
        if why:
            reasons[edge_id] = why
            skipped.append(ReportItem("edge", edge_id, edge_id, why))
        else:
            chosen.append(edge)
    for edge_id, row in rows.items():  # stored edges the graph no longer has
        if edge_id not in reasons and row.get("status") == "stale":
            reasons[edge_id] = f"stale: not observed since {row.get('last_observed')} (past retention)"
    return chosen, skipped, reasons


def _kind_excluded(graph: LineageGraph, edge: LineageEdge, settings: Any) -> str | None:
    systems = (graph.node(edge.source).system, graph.node(edge.target).system)
    if edge.kind == "unload" and not settings.include_unloads:
        return "unloads are off ([atlan] include_unloads = false)"
    if edge.kind == "transform":
        if systems == ("snowflake", "snowflake"):
            if not settings.include_snowflake_internal:
                return "Snowflake-internal transform (Atlan mines these; include_snowflake_internal = false)"
        else:
            return f"{systems[0]} → {systems[1]} transform is not published (out of scope)"
    return None


def publish(config: Config, graph: LineageGraph, store: Any = None, *, dry_run: bool = False,
            client: Any = None, statements: Mapping[str, str] | None = None,
            decisions: Mapping[str, Any] | None = None, settings: Any = None,
            sleep: Any = None) -> PublishReport:
    """Publish ``graph`` to Atlan as configured in ``config``'s ``[atlan]`` section.

    ``store`` (a StateStore) supplies edge statuses and review decisions; ``client`` an
    AtlanClient (default: from ATLAN_BASE_URL / ATLAN_API_KEY); ``statements`` maps
    fingerprints to statement text for the processes' SQL (see :mod:`.statements`; by
    default the texts scheduled runs sampled into the state store, when there are any).
    Raises :class:`PublishError` when publishing cannot start (no settings, no
    credentials, a connection that does not exist); per-asset problems are in the report.
    """
    from s3lineage.publish.client import RejectedError, TransientError

    try:
        return _publish(config, graph, store, dry_run=dry_run, client=client,
                        statements=statements, decisions=decisions, settings=settings, sleep=sleep)
    except (RejectedError, TransientError) as err:
        # reading what Atlan has failed (credentials, permissions, an outage): nothing
        # was planned, so nothing was written
        raise PublishError(f"Atlan: {err}") from err


def _publish(config: Config, graph: LineageGraph, store: Any, *, dry_run: bool, client: Any,
             statements: Mapping[str, str] | None, decisions: Mapping[str, Any] | None,
             settings: Any, sleep: Any) -> PublishReport:
    from s3lineage.publish import assets, endpoints, execute
    from s3lineage.publish import plan as planning

    started = time.monotonic()
    settings = settings or config.sections.get("atlan")
    if settings is None:
        raise PublishError(f"{config.path}: no [atlan] section; nothing to publish to")
    calls = AtlanCalls(client if client is not None else make_client(), settings.max_retries,
                       settings.retry_backoff_seconds, **({"sleep": sleep} if sleep else {}))
    lineage_qn = endpoints.find_connection(calls, settings.lineage_connection)
    s3_qn = endpoints.find_connection(calls, settings.s3_connection, "s3")
    chosen, skipped, reasons = select_edges(graph, settings, store, decisions)
    if statements is None:
        statements = _stored_statements(store, chosen)
    tables = {n for e in chosen for n in (e.source, e.target) if graph.node(n).system != "s3"
              and graph.node(n).ref.kind.value == "table"}
    resolved = endpoints.resolve_tables(calls, config, [graph.node(n) for n in sorted(tables)])
    s3_nodes = [graph.node(n) for n in sorted({n for e in chosen for n in (e.source, e.target)})
                if graph.node(n).system == "s3"]
    s3 = planning.fetch_s3(calls, s3_qn, {n.ref.namespace.removeprefix("s3://") for n in s3_nodes},
                           {n.ref.name for n in s3_nodes if not n.is_prefix and "{" not in n.ref.name})
    desired = assets.Builder(graph, settings, lineage_qn, s3_qn, resolved, s3, statements).build(chosen)
    existing = planning.fetch_owned_processes(calls, lineage_qn)
    the_plan = planning.diff(desired, existing, s3, reasons)
    report = PublishReport(dry_run=dry_run, skipped=skipped)
    report.skipped += [ReportItem(s.what, s.key, "", s.reason) for s in the_plan.skipped]
    report.reused = [ReportItem(t, qn) for t, qn in the_plan.reused]
    report.unchanged = len(the_plan.of("unchanged"))
    if dry_run:
        done, failed = the_plan.actions, []
    else:
        outcome = execute.Executor(calls, settings.batch_size).run(the_plan)
        done, failed = outcome.done, outcome.failed
    buckets = {"create": report.created, "update": report.updated, "restore": report.restored,
               "archive": report.archived}
    for action in done:
        if action.kind in buckets:
            buckets[action.kind].append(ReportItem(action.type_name, action.qualified_name,
                                                   action.name, action.reason))
    report.failed = [ReportItem(a.type_name, a.qualified_name, a.name, why) for a, why in failed]
    report.stats = {"requests": calls.stats.requests, "writes": calls.stats.writes,
                    "retried_rounds": calls.stats.retried_rounds,
                    "statuses": dict(sorted(calls.stats.statuses.items())),
                    "seconds": round(time.monotonic() - started, 3),
                    "edges_published": len(chosen)}
    LOG.info("publish%s: %s", " (dry run)" if dry_run else "",
             ", ".join(f"{k} {v}" for k, v in report.counts().items()))
    for item in report.failed:
        LOG.warning("publish failed for %s %s: %s", item.type_name, item.qualified_name, item.reason)
    return report
