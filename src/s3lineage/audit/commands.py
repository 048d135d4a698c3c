"""CLI: ``explain``, ``audit``, ``review``, ``impact``, ``report`` and ``openlineage``.

Every command reads the state store of ``--config`` (what scheduled ``infer`` runs
keep); ``impact``, ``report`` and ``openlineage`` also read a JSON export (``--graph``).
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from s3lineage.audit.data import AuditData, AuditError, open_store


@contextmanager
def _opened(args: argparse.Namespace, *, graph_ok: bool = False) -> Iterator[tuple[AuditData, Any]]:
    """(graph, store) for a command; the store is None when reading a ``--graph`` file."""
    if graph_ok and getattr(args, "graph", None):
        yield AuditData.from_file(args.graph), None
        return
    if not getattr(args, "config", None):
        raise AuditError("give --config lineage.toml" + (" or --graph graph.json" if graph_ok else ""))
    from s3lineage.audit.history import record_run
    from s3lineage.config import load_config

    store = open_store(load_config(args.config))
    try:
        try:
            record_run(store)  # catch up on runs saved without the audit hook
        except sqlite3.OperationalError:
            pass  # a read-only or busy state store: the history just stays as it was
        yield AuditData.from_store(store), store
    finally:
        store.close()


def _decisions(store: Any) -> dict[str, Any]:
    from s3lineage.audit.reviews import load_decisions

    return load_decisions(store) if store is not None else {}


def _write(path: str | None, text: str) -> None:
    if path is None or path == "-":
        sys.stdout.write(text)
        return
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")


# --- explain --------------------------------------------------------------------------------


def _explain(args: argparse.Namespace) -> int:
    from s3lineage.audit.explain import explain, render_text

    with _opened(args) as (data, store):
        target = data.resolve(args.target)
        result = explain(data, target, store, _decisions(store), show_literals=args.show_literals)
    if args.json:
        print(json.dumps(result.to_json(), indent=2, ensure_ascii=False))
    else:
        print(render_text(data, result))
    return 0


# --- audit ----------------------------------------------------------------------------------


def _since(value: str) -> datetime:
    try:
        when = datetime.fromisoformat(value)
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"--since takes an ISO date or time, not {value!r}") from err
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def _audit(args: argparse.Namespace) -> int:
    from s3lineage.audit import history, table

    with _opened(args) as (data, store):
        decisions = _decisions(store)
        latest = history.latest_run(store)
        changes = history.changes(store, latest)
        previous = history.previous_run(store, latest) if latest is not None else None
    filters = table.Filters(
        systems=tuple(s for v in args.system for s in v.split(",") if s),
        dataset=args.dataset, below=args.below, statuses=tuple(args.status),
        recognizer=args.recognizer, since=args.since, changed_only=args.changed)
    items = table.sort_rows(table.rows(data, decisions, changes, filters), args.sort)
    if args.reverse:
        items.reverse()
    if args.csv:
        _write(args.csv, table.to_csv(items))
    if args.json:
        print(json.dumps([r.as_dict() for r in items], indent=2, ensure_ascii=False))
        return 0
    if args.csv == "-":
        return 0
    print(table.summarize_changes(changes, latest, previous))
    print(f"{len(items)} of {len(data.edges)} edges")
    if items:
        print(table.render_table(items, _width()))
    if args.csv:
        print(f"wrote {args.csv}", file=sys.stderr)
    return 0


def _width() -> int:
    import shutil

    return shutil.get_terminal_size((250, 24)).columns if sys.stdout.isatty() else 250


# --- review ---------------------------------------------------------------------------------


def _review(args: argparse.Namespace) -> int:
    from s3lineage.audit import reviews

    action = args.action
    if action in ("import", "export") and args.edge is None:
        raise AuditError(f"review {action} needs a FILE")
    if action in ("accept", "reject", "clear") and args.edge is None:
        raise AuditError(f"review {action} needs an edge (its id or key, as `s3lineage audit` lists)")
    with _opened(args) as (data, store):
        if action == "export":
            count = reviews.export_decisions(store, args.edge)
            print(f"wrote {count} decision(s) to {args.edge}")
            return 0
        if action == "import":
            report = reviews.import_decisions(store, args.edge, replace_all=args.replace)
            print(f"imported {report.imported} decision(s) from {args.edge}"
                  + (f"; removed {report.removed}" if report.removed else ""))
            for edge_id in report.unknown_edges or []:
                print(f"  note: no such edge in the state store (yet): {edge_id}", file=sys.stderr)
            return 0
        if action == "list":
            return _list_decisions(data, reviews.load_decisions(store))
        edge = data.resolve_edge(args.edge)
        if action == "clear":
            done = reviews.clear(store, edge.id)
            print(("cleared the decision on " if done else "no decision on ") + edge.id)
            return 0
        status = "accepted" if action == "accept" else "rejected"
        decision = reviews.decide(store, edge.id, status, args.note or "", decided_by=args.by)
    print(f"{decision.status} {edge.key}  {data.display(edge.source)} → {data.display(edge.target)}")
    return 0


def _list_decisions(data: AuditData, decisions: dict[str, Any]) -> int:
    if not decisions:
        print("no review decisions")
        return 0
    for edge_id, d in decisions.items():
        edge = data.edges.get(edge_id)
        name = f"{data.display(edge.source)} → {data.display(edge.target)}" if edge else edge_id
        flag = "  RE-REVIEW: evidence changed" if d.needs_review else ""
        flag += "" if edge else "  (edge not in the store)"
        print(f"{d.status:<8}  {edge.key if edge else '-':<8}  {name}{flag}")
        print(f"          {d.decided_at.isoformat(timespec='seconds')}"
              f"{' by ' + d.decided_by if d.decided_by else ''}: {d.note or '(no note)'}")
    return 0


# --- impact ---------------------------------------------------------------------------------


def _impact(args: argparse.Namespace) -> int:
    from s3lineage.audit.impact import ImpactIndex, render_text

    with _opened(args, graph_ok=True) as (data, store):
        decisions = _decisions(store)
    target = data.resolve(args.target)
    if target.kind == "edge" or target.dataset is None:
        raise AuditError("impact takes a dataset or dataset.column, not an edge")
    skip = set() if args.include_rejected else {e for e, d in decisions.items() if d.rejected}
    index = ImpactIndex.from_audit(data, skip)
    direction = "upstream" if args.upstream else "downstream"
    result = index.query(target.dataset.id, target.column, direction=direction, depth=args.depth)
    if args.json:
        print(json.dumps(result.to_json(), indent=2, ensure_ascii=False))
    else:
        systems = {d.id: d.system for d in data.datasets.values()}
        print(render_text(result, data.display, systems))
        if skip:
            print(f"note: {len(skip)} rejected edge(s) not followed (--include-rejected follows them)")
    return 0


# --- registration -----------------------------------------------------------------------------


def register(sub: Any) -> None:
    """Add the audit commands to the ``s3lineage`` parser."""
    explain = sub.add_parser(
        "explain", help="why an edge exists: statements, recognizer, confidence, SQL; a column's path",
        description="For each edge touching a dataset, column or edge: the statements behind it, "
                    "the recognizer, the confidence and what lowered it, and the SQL with literals "
                    "redacted. For a column: its full upstream path, hop by hop.")
    explain.add_argument("target", help="dataset (id, name or unambiguous suffix), dataset.column, "
                                        "or an edge ('source -> target' or its key)")
    explain.add_argument("--config", required=True, help="lineage.toml (reads its state store)")
    explain.add_argument("--show-literals", action="store_true",
                         help="show SQL literals (they can hold personal data)")
    explain.add_argument("--json", action="store_true", help="print one JSON object")
    explain.set_defaults(func=_explain)

    audit = sub.add_parser("audit", help="table of edges: filter, sort, CSV; changes since the last run")
    audit.add_argument("--config", required=True, help="lineage.toml (reads its state store)")
    audit.add_argument("--system", action="append", default=[],
                       help="postgres, s3 or snowflake (either end; repeat or comma-separate)")
    audit.add_argument("--dataset", help="edges touching this dataset (name, suffix or substring)")
    audit.add_argument("--below", type=float, metavar="CONF", help="confidence below this (e.g. 0.8)")
    audit.add_argument("--status", action="append", default=[],
                       choices=["active", "stale", "rejected", "accepted", "unreviewed", "re-review"])
    audit.add_argument("--recognizer", help="recognizer id contains this")
    audit.add_argument("--since", type=_since, metavar="WHEN", help="first seen at or after this ISO time")
    audit.add_argument("--changed", action="store_true", help="only edges the latest run changed")
    audit.add_argument("--sort", default="source",
                       help="confidence, first_seen, last_seen, runs, source, target, kind, status, "
                            "change or key; --sort=-KEY or --reverse for descending (default: source)")
    audit.add_argument("--reverse", action="store_true", help="reverse the order")
    audit.add_argument("--csv", metavar="FILE", help="also write the rows as CSV (- for stdout only)")
    audit.add_argument("--json", action="store_true", help="print the rows as JSON")
    audit.set_defaults(func=_audit)

    review = sub.add_parser("review", help="accept or reject edges; import/export decisions (TOML)",
                            description="Review decisions: rejected edges are never published and "
                                        "are marked in exports; accepted edges stay published when "
                                        "a run misses them.")
    review.add_argument("action", choices=["accept", "reject", "clear", "list", "import", "export"])
    review.add_argument("edge", nargs="?", help="the edge (id or key) or, for import/export, the FILE")
    review.add_argument("--note", help="why (kept with the decision)")
    review.add_argument("--by", help="who decided (default: $S3LINEAGE_REVIEWER or the login name)")
    review.add_argument("--replace", action="store_true",
                        help="import: also drop stored decisions the file does not list")
    review.add_argument("--config", required=True, help="lineage.toml (its state store)")
    review.set_defaults(func=_review)

    impact = sub.add_parser("impact", help="everything reachable from a dataset or column")
    impact.add_argument("target", help="dataset or dataset.column")
    direction = impact.add_mutually_exclusive_group()
    direction.add_argument("--downstream", action="store_true", help="what it feeds (default)")
    direction.add_argument("--upstream", action="store_true", help="what feeds it")
    impact.add_argument("--depth", type=int, metavar="N", help="at most N hops")
    impact.add_argument("--include-rejected", action="store_true", help="follow rejected edges too")
    impact.add_argument("--json", action="store_true", help="print one JSON object")
    _graph_source(impact)
    impact.set_defaults(func=_impact)

    from s3lineage.audit import exports

    exports.register(sub, _opened, _decisions, _write, _graph_source)


def _graph_source(parser: argparse.ArgumentParser) -> None:
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--config", help="lineage.toml (reads its state store)")
    source.add_argument("--graph", help="a JSON graph export instead of the state store")
