"""Graph exports: the JSON contract (docs/graph-format.md) and views people look at
(GraphML for Gephi/yEd, Graphviz DOT, Mermaid).
"""

from __future__ import annotations

import io
import json
import re
from datetime import UTC, datetime
from typing import Any

import networkx as nx

from s3lineage import __version__
from s3lineage.diagnostics import DiagnosticLog
from s3lineage.graph.model import LineageGraph

FORMAT_VERSION = "1.0"
FORMATS = ("json", "graphml", "dot", "mermaid")


def to_json_data(
    graph: LineageGraph,
    diagnostics: DiagnosticLog | None = None,
    stats: dict[str, Any] | None = None,
    *,
    generated_at: datetime | None = None,
) -> dict[str, Any]:
    """The versioned JSON document. Ordering is deterministic (sorted by id)."""
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
                }
                for m in sorted(node.members.values(), key=lambda m: m.key)
            ]
        datasets.append(item)
    edges = [edge_json(edge) for edge in graph.edges()]
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
) -> str:
    if fmt == "json":
        return (
            json.dumps(to_json_data(graph, diagnostics, stats), indent=2, ensure_ascii=False) + "\n"
        )
    if fmt == "graphml":
        return to_graphml(graph)
    if fmt == "dot":
        return to_dot(graph)
    if fmt == "mermaid":
        return to_mermaid(graph)
    raise ValueError(f"unknown format {fmt!r}; choose from {', '.join(FORMATS)}")


def to_graphml(graph: LineageGraph) -> str:
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


def to_dot(graph: LineageGraph) -> str:
    """Graphviz, one cluster per system, left to right; dashed edges are low-confidence."""
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
        lines.append(
            f'  {ids[edge.source]} -> {ids[edge.target]} [label="{_dot_escape(label)}", style={style}];'
        )
    lines.append("}")
    return "\n".join(lines) + "\n"


def to_mermaid(graph: LineageGraph) -> str:
    """Mermaid flowchart with a subgraph lane per system (renders in GitHub markdown)."""
    ids = {node.id: f"n{i}" for i, node in enumerate(graph.datasets())}
    lines = ["flowchart LR"]
    for system, nodes in _lanes(graph).items():
        lines.append(f"  subgraph {_ident(system)}[{system}]")
        for node in nodes:
            label = node.ref.display if node.system == "s3" else node.ref.name
            lines.append(f'    {ids[node.id]}["{_mermaid_escape(label)}"]')
        lines.append("  end")
    for edge in graph.edges():
        arrow = "-.->" if edge.confidence < 0.8 else "-->"
        label = f"{edge.kind} · {len(edge.columns)} cols"
        lines.append(f"  {ids[edge.source]} {arrow}|{_mermaid_escape(label)}| {ids[edge.target]}")
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
