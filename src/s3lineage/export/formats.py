"""Graph exports: the JSON contract (docs/graph-format.md) and views people look at
(GraphML for Gephi/yEd, Graphviz DOT, Mermaid, a self-contained HTML report).

``reviews`` (edge id → the ``review`` JSON of :mod:`s3lineage.audit.reviews`) marks
reviewed edges in every format; rejected ones are drawn red and dashed.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import networkx as nx

from s3lineage import __version__
from s3lineage.diagnostics import DiagnosticLog
from s3lineage.graph.model import LineageGraph

FORMAT_VERSION = "1.0"
FORMATS = ("json", "graphml", "dot", "mermaid", "html")
Reviews = Mapping[str, Mapping[str, Any]]  # edge id → {"status": "accepted"|"rejected", …}


def to_json_data(
    graph: LineageGraph,
    diagnostics: DiagnosticLog | None = None,
    stats: dict[str, Any] | None = None,
    *,
    generated_at: datetime | None = None,
    reviews: Reviews | None = None,
) -> dict[str, Any]:
    """The versioned JSON document. Ordering is deterministic (sorted by id).

    With ``reviews`` every edge gets a ``review`` field (null when undecided).
    """
    datasets = []
    for node in graph.datasets():
        item: dict[str, Any] = {
            "id": node.id,
            "namespace": node.ref.namespace,
            "name": node.ref.name,
            "kind": node.ref.kind.value,
            "system": node.system,
            "fields": list(node.fields),
        }
        if node.system == "s3":
            item["prefix"] = node.is_prefix
            item["file_format"] = node.file_format
            item["members"] = [
                {
                    "key": m.key,
                    "written": m.written,
                    "loaded": m.loaded,
                    "first_seen": _iso(m.first_seen),
                    "last_seen": _iso(m.last_seen),
                    "size": m.size,
                    "last_modified": _iso(m.last_modified),
                    "etag": m.etag,
                }
                for m in sorted(node.members.values(), key=lambda m: m.key)
            ]
            item["metadata"] = dict(node.metadata)
        datasets.append(item)
    edges = [edge_json(edge) for edge in graph.edges()]
    if reviews is not None:
        for item in edges:
            review = reviews.get(item["id"])
            item["review"] = dict(review) if review is not None else None
    return {
        "format": "s3lineage.graph",
        "version": FORMAT_VERSION,
        "generator": f"s3lineage {__version__}",
        "generated_at": _iso(generated_at or datetime.now(UTC)),
        "summary": {k: v for k, v in (stats or {}).items() if not k.startswith("_")},
        "datasets": datasets,
        "edges": edges,
        "diagnostics": diagnostics.to_json() if diagnostics else [],
    }


def edge_json(edge) -> dict[str, Any]:
    """One edge as the contract describes it."""
    return {
        "id": f"{edge.source} -> {edge.target}",
        "source": edge.source,
        "target": edge.target,
        "kind": edge.kind,
        "columns": [
            {
                "target": m.target,
                "sources": [{"dataset": d, "field": f} for d, f in sorted(m.sources)],
                "transform": m.transform,
            }
            for m in sorted(edge.columns.values(), key=lambda m: m.target)
        ],
        "indirect": [{"dataset": d, "field": f} for d, f in sorted(edge.indirect)],
        "confidence": round(edge.confidence, 3),
        "match": edge.match,
        "evidence": edge.evidence.to_json(),
    }


def _iso(when: datetime | None) -> str | None:
    return when.isoformat() if when else None


def render(
    fmt: str,
    graph: LineageGraph,
    diagnostics: DiagnosticLog | None = None,
    stats: dict[str, Any] | None = None,
    *,
    reviews: Reviews | None = None,
) -> str:
    if fmt == "json":
        data = to_json_data(graph, diagnostics, stats, reviews=reviews)
        return json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    if fmt == "graphml":
        return to_graphml(graph, reviews)
    if fmt == "dot":
        return to_dot(graph, reviews)
    if fmt == "mermaid":
        return to_mermaid(graph, reviews)
    if fmt == "html":
        from s3lineage.audit.html import render_html

        return render_html(to_json_data(graph, diagnostics, stats, reviews=reviews))
    raise ValueError(f"unknown format {fmt!r}; choose from {', '.join(FORMATS)}")


def _review_status(reviews: Reviews | None, edge) -> str:
    review = (reviews or {}).get(f"{edge.source} -> {edge.target}")
    return str(review.get("status", "")) if review else ""


def to_graphml(graph: LineageGraph, reviews: Reviews | None = None) -> str:
    """Dataset and column nodes; GraphML wants flat scalar attributes."""
    flat = nx.DiGraph()
    for node in graph.datasets():
        flat.add_node(
            node.id,
            label=node.ref.name,
            kind=node.ref.kind.value,
            system=node.system,
            level="dataset",
            fields=",".join(node.fields),
        )
        for field_name in node.fields:
            flat.add_node(
                f"{node.id}#{field_name}",
                label=field_name,
                level="column",
                system=node.system,
                dataset=node.id,
            )
            flat.add_edge(node.id, f"{node.id}#{field_name}", relation="has_column")
    for edge in graph.edges():
        flat.add_edge(
            edge.source,
            edge.target,
            relation="lineage",
            kind=edge.kind,
            confidence=float(edge.confidence),
            run_count=edge.evidence.run_count,
            recognizers=",".join(sorted(edge.evidence.recognizers)),
            review=_review_status(reviews, edge),
        )
        for mapping in edge.columns.values():
            target = f"{edge.target}#{mapping.target}"
            for dataset, field_name in mapping.sources:
                source = f"{dataset}#{field_name}"
                for column in (source, target):
                    if column not in flat:
                        ds, _, name = column.partition("#")
                        flat.add_node(column, label=name, level="column", dataset=ds)
                flat.add_edge(
                    source, target, relation="column_lineage", transform=mapping.transform
                )
    buffer = io.BytesIO()
    nx.write_graphml(flat, buffer, encoding="utf-8")
    return buffer.getvalue().decode("utf-8")


_SYSTEM_ORDER = ("postgres", "s3", "snowflake")
_SYSTEM_COLOURS = {"postgres": "#dbe9f6", "s3": "#fdf1d6", "snowflake": "#dff3f8"}


def _lanes(graph: LineageGraph) -> dict[str, list]:
    lanes: dict[str, list] = {}
    for node in graph.datasets():
        lanes.setdefault(node.system, []).append(node)
    ordered = [s for s in _SYSTEM_ORDER if s in lanes] + sorted(
        s for s in lanes if s not in _SYSTEM_ORDER
    )
    return {s: lanes[s] for s in ordered}


def to_dot(graph: LineageGraph, reviews: Reviews | None = None) -> str:
    """Graphviz, one cluster per system, left to right; dashed edges are low-confidence,
    red dashed ones rejected by a reviewer."""
    ids = {node.id: f"n{i}" for i, node in enumerate(graph.datasets())}
    lines = [
        "digraph lineage {",
        "  rankdir=LR;",
        '  node [shape=box, style="rounded,filled", fontname="Helvetica"];',
    ]
    for system, nodes in _lanes(graph).items():
        lines.append(f"  subgraph cluster_{_ident(system)} {{")
        lines.append(f'    label="{system}"; style=filled; color="#eeeeee";')
        for node in nodes:
            label = node.ref.display if node.system == "s3" else node.ref.name
            if node.fields:
                label += "\\n" + ", ".join(node.fields[:8]) + (" …" if len(node.fields) > 8 else "")
            colour = _SYSTEM_COLOURS.get(system, "#ffffff")
            lines.append(
                f'    {ids[node.id]} [label="{_dot_escape(label)}", fillcolor="{colour}"];'
            )
        lines.append("  }")
    for edge in graph.edges():
        style = "dashed" if edge.confidence < 0.8 else "solid"
        label = f"{edge.kind} ({len(edge.columns)} cols, {edge.confidence:.2f})"
        extra = ""
        if _review_status(reviews, edge) == "rejected":
            style, label = "dashed", f"REJECTED · {label}"
            extra = ', color="#c62828", fontcolor="#c62828"'
        lines.append(
            f'  {ids[edge.source]} -> {ids[edge.target]} [label="{_dot_escape(label)}", style={style}{extra}];'
        )
    lines.append("}")
    return "\n".join(lines) + "\n"


def to_mermaid(graph: LineageGraph, reviews: Reviews | None = None) -> str:
    """Mermaid flowchart with a subgraph lane per system (renders in GitHub markdown);
    rejected edges are red, dashed and labelled REJECTED."""
    ids = {node.id: f"n{i}" for i, node in enumerate(graph.datasets())}
    lines = ["flowchart LR"]
    for system, nodes in _lanes(graph).items():
        lines.append(f"  subgraph {_ident(system)}[{system}]")
        for node in nodes:
            label = node.ref.display if node.system == "s3" else node.ref.name
            lines.append(f'    {ids[node.id]}["{_mermaid_escape(label)}"]')
        lines.append("  end")
    rejected = []
    for number, edge in enumerate(graph.edges()):
        arrow = "-.->" if edge.confidence < 0.8 else "-->"
        label = f"{edge.kind} · {len(edge.columns)} cols"
        if _review_status(reviews, edge) == "rejected":
            arrow, label = "-.->", f"REJECTED · {label}"
            rejected.append(str(number))
        lines.append(f"  {ids[edge.source]} {arrow}|{_mermaid_escape(label)}| {ids[edge.target]}")
    if rejected:
        lines.append(f"  linkStyle {','.join(rejected)} stroke:#c62828,color:#c62828")
    return "\n".join(lines) + "\n"


def _ident(text: str) -> str:
    return re.sub(r"\W", "_", text)


def _dot_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\\\\n", "\\n")


def _mermaid_escape(text: str) -> str:
    return (
        text.replace('"', "#quot;")
        .replace("{", "#123;")
        .replace("}", "#125;")
        .replace("|", "#124;")
    )
