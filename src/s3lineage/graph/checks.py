"""Checks the graph runs on itself before anyone reviews or publishes it.

- ``cycle``: datasets that feed themselves (usually a refresh pattern worth a look);
- ``s3_written_not_loaded`` / ``s3_loaded_not_written``: dangling S3 data;
- ``stage_dataset_unresolved``: a stage whose S3 location is unknown stayed a stage node;
- ``column_not_in_catalog``: an edge names a column the catalog does not list.
"""

from __future__ import annotations

import itertools

import networkx as nx

from s3lineage.graph.model import LineageGraph
from s3lineage.model import DatasetKind, Diagnostic, Severity

MAX_CYCLES = 20


def check_graph(graph: LineageGraph, catalogs: dict) -> list[Diagnostic]:
    return [*_cycles(graph), *_dangling(graph), *_columns(graph, catalogs)]


def _cycles(graph: LineageGraph) -> list[Diagnostic]:
    found = []
    for cycle in itertools.islice(nx.simple_cycles(graph.g), MAX_CYCLES):
        path = " → ".join([*cycle, cycle[0]])
        found.append(Diagnostic("cycle", Severity.WARNING, f"lineage cycle: {path}"))
    return found


def _dangling(graph: LineageGraph) -> list[Diagnostic]:
    found = []
    for node in graph.datasets():
        if node.ref.kind is DatasetKind.STAGE:
            found.append(Diagnostic(
                "stage_dataset_unresolved", Severity.WARNING,
                f"@{node.ref.name} could not be resolved to S3: lineage stops at the stage", node.id))
            continue
        if node.system != "s3":
            continue
        written = graph.g.in_degree(node.id) > 0
        loaded = graph.g.out_degree(node.id) > 0
        if written and not loaded:
            writers = ", ".join(sorted(graph.g.predecessors(node.id)))
            found.append(Diagnostic(
                "s3_written_not_loaded", Severity.WARNING,
                f"{node.id} is written (by {writers}) but no load reads it", node.id))
        elif loaded and not written:
            readers = ", ".join(sorted(graph.g.successors(node.id)))
            found.append(Diagnostic(
                "s3_loaded_not_written", Severity.WARNING,
                f"{node.id} is loaded (into {readers}) but no statement read writes it "
                "(an external producer, or a source not configured)", node.id))
    return found


def _columns(graph: LineageGraph, catalogs: dict) -> list[Diagnostic]:
    found = []
    for edge in graph.edges():
        for end, fields in (
            (edge.target, set(edge.columns)),
            (edge.source, {f for m in edge.columns.values() for d, f in m.sources if d == edge.source}),
        ):
            node = graph.node(end)
            if node.ref.kind is not DatasetKind.TABLE:
                continue
            catalog = catalogs.get(node.ref.namespace)
            known = catalog.columns(tuple(node.ref.name.split("."))) if catalog else None
            if not known:
                continue
            lowered = {k.lower() for k in known}
            missing = sorted(f for f in fields if f.lower() not in lowered)
            if missing:
                found.append(Diagnostic(
                    "column_not_in_catalog", Severity.WARNING,
                    f"{node.ref.name} has no column(s) {', '.join(missing)} in the catalog", end))
    return found
