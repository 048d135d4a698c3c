"""CLI for the exports people look at: ``report`` (HTML, and the other formats with review
marks) and ``openlineage`` (RunEvents to a file and/or an HTTP endpoint)."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from typing import Any

from s3lineage import __version__
from s3lineage.audit.data import AuditData, AuditError, Edge
from s3lineage.export.formats import FORMAT_VERSION, FORMATS


def to_document(data: AuditData, reviews: dict[str, Any] | None) -> dict[str, Any]:
    """The JSON contract (docs/graph-format.md) of a stored graph, with ``review`` fields
    when ``reviews`` is given."""
    edges = []
    for edge in sorted(data.edges.values(), key=lambda e: (e.source, e.target)):
        item = dict(edge.data)
        if reviews is not None:
            review = reviews.get(edge.id)
            item["review"] = review.to_json() if review is not None else None
        edges.append(item)
    return {
        "format": "s3lineage.graph",
        "version": FORMAT_VERSION,
        "generator": f"s3lineage {__version__}",
        "generated_at": datetime.now(UTC).isoformat(),
        "summary": {"datasets": len(data.datasets), "edges": len(edges)},
        "datasets": [
            {"id": d.id, "namespace": d.namespace, "name": d.name, "kind": d.kind,
             "system": d.system, "fields": list(d.fields)}
            for d in sorted(data.datasets.values(), key=lambda d: d.id)
        ],
        "edges": edges,
        "diagnostics": [],
    }


def to_graph(data: AuditData) -> Any:
    """A :class:`~s3lineage.graph.model.LineageGraph` of a stored graph (no S3 members),
    for the renderers of :mod:`s3lineage.export.formats`."""
    from s3lineage.graph.model import LineageGraph
    from s3lineage.model import DatasetKind, DatasetRef
    from s3lineage.state.serialize import evidence_from_dict

    graph = LineageGraph()
    refs = {}
    for node in data.datasets.values():
        ref = refs[node.id] = DatasetRef(node.namespace, node.name, DatasetKind(node.kind))
        graph.dataset(ref).add_fields(node.fields)
    for edge in data.edges.values():
        item = graph.edge(refs[edge.source], refs[edge.target], edge.kind)
        for mapping in edge.data.get("columns", []):
            item.add_column(mapping["target"], {(s["dataset"], s["field"]) for s in mapping["sources"]},
                            mapping.get("transform", "identity"))
        item.indirect = {(i["dataset"], i["field"]) for i in edge.data.get("indirect", [])}
        item.confidence = edge.confidence
        item.match = edge.data.get("match")
        if edge.data.get("evidence"):
            item.evidence = evidence_from_dict(edge.data["evidence"])
    return graph


def redacted_sql(store: Any, edges: list[Edge], show_literals: bool = False) -> dict[str, str]:
    """Fingerprint → example SQL (literals redacted unless ``show_literals``)."""
    if store is None:
        return {}
    from s3lineage.audit.statements import statement_texts

    fingerprints = {f for e in edges for f in e.evidence.get("fingerprints", [])}
    return {f: t.shown(show_literals) for f, t in statement_texts(store, fingerprints).items()}


def register(sub: Any, opened: Any, decisions: Any, write: Any, graph_source: Any) -> None:
    """Add ``report`` and ``openlineage`` (helpers shared with :mod:`.commands`)."""

    def report(args: argparse.Namespace) -> int:
        from s3lineage.audit.html import render_html
        from s3lineage.export.formats import render

        with opened(args, graph_ok=True) as (data, store):
            found = decisions(store)
            sql = redacted_sql(store, list(data.edges.values()), args.show_literals)
        marks = {edge_id: d.to_json() for edge_id, d in found.items()}
        if args.format == "html":
            text = render_html(to_document(data, found), sql=sql,
                               status={e.id: e.status for e in data.edges.values()}, title=args.title)
        elif args.format == "json":
            import json

            text = json.dumps(to_document(data, found), indent=2, ensure_ascii=False) + "\n"
        else:
            text = render(args.format, to_graph(data), reviews=marks)
        write(args.output, text)
        if args.output and args.output != "-":
            print(f"wrote {args.output} ({len(data.datasets)} datasets, {len(data.edges)} edges, "
                  f"{sum(d.rejected for d in found.values())} rejected)", file=sys.stderr)
        return 0

    parser = sub.add_parser(
        "report", help="a self-contained HTML report (or JSON/DOT/Mermaid/GraphML) with review marks",
        description="Render the stored graph for people: HTML (lanes by system, search, "
                    "upstream/downstream highlight, edge evidence; no network needed), or another "
                    "format. Rejected edges are marked in every format.")
    graph_source(parser)
    parser.add_argument("--format", choices=FORMATS, default="html")
    parser.add_argument("--output", "-o", help="write here (default: stdout)")
    parser.add_argument("--title", default="s3lineage report")
    parser.add_argument("--show-literals", action="store_true", help="HTML: SQL with literals")
    parser.set_defaults(func=report)

    def openlineage(args: argparse.Namespace) -> int:
        from s3lineage.audit import openlineage as ol

        if not args.output and not args.url:
            raise AuditError("give --output FILE and/or --url URL")
        with opened(args, graph_ok=True) as (data, store):
            found = decisions(store)
            edges = ol.publishable(data, found)
            sql = redacted_sql(store, edges)
        events = ol.build_events(data, edges, sql=sql, job_namespace=args.job_namespace)
        text = ol.to_json_lines(events)
        if args.output:
            write(args.output, text)
        skipped = len(data.edges) - len(edges)
        summary = f"{len(events)} event(s)" + (f"; {skipped} rejected/stale edge(s) left out" if skipped else "")
        if args.url:
            sent = ol.post_events(text.splitlines(), args.url, endpoint=args.endpoint, timeout=args.timeout)
            summary += f"; sent {sent.sent} to {args.url}"
            if sent.failed:
                print(f"s3lineage: {sent.failed} event(s) failed to send ({sent.first_error})", file=sys.stderr)
                print(summary, file=sys.stderr)
                return 1
        print(summary, file=sys.stderr)
        return 0

    parser = sub.add_parser(
        "openlineage", help="OpenLineage RunEvents (columnLineage facet) to a file and/or an endpoint",
        description="One COMPLETE RunEvent per edge, with the columnLineage, schema and symlinks "
                    "dataset facets, for Marquez, DataHub or Atlan's OpenLineage intake. Rejected "
                    "edges are left out; accepted edges are kept even when stale.")
    graph_source(parser)
    parser.add_argument("--output", "-o", help="JSON lines file (- for stdout)")
    parser.add_argument("--url", help="POST each event to this OpenLineage endpoint base URL")
    parser.add_argument("--endpoint", default="api/v1/lineage", help="path under --url (default: api/v1/lineage)")
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds per request")
    parser.add_argument("--job-namespace", default="s3lineage", help="OpenLineage job namespace")
    parser.set_defaults(func=openlineage)
