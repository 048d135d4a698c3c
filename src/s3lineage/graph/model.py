"""The lineage graph: dataset nodes and edges carrying column mappings and evidence.

Storage is a networkx DiGraph keyed by dataset id (node attribute ``node``: a
:class:`DatasetNode`; edge attribute ``edge``: a :class:`LineageEdge`). Column nodes are
derived on demand by :meth:`LineageGraph.column_graph`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import networkx as nx

from s3lineage.model import DatasetKind, DatasetRef, QueryEvent

MAX_LISTED = 20  # query ids / locations kept per edge: evidence, not a log copy


def _widen(span: Evidence | Member, when: datetime | None) -> None:
    """Stretch ``first_seen``/``last_seen`` of ``span`` to include ``when``."""
    if when is None:
        return
    if span.first_seen is None or when < span.first_seen:
        span.first_seen = when
    if span.last_seen is None or when > span.last_seen:
        span.last_seen = when


def system_of(ref: DatasetRef) -> str:
    if ref.kind is DatasetKind.S3:
        return "s3"
    return ref.namespace.split("://", 1)[0]


@dataclass(slots=True)
class Evidence:
    """Why an edge exists: which statements, seen where, when and how often."""

    collectors: set[str] = field(default_factory=set)
    query_ids: list[str] = field(default_factory=list)
    fingerprints: set[str] = field(default_factory=set)
    recognizers: set[str] = field(default_factory=set)
    users: set[str] = field(default_factory=set)
    locations: list[str] = field(default_factory=list)
    first_seen: datetime | None = None
    last_seen: datetime | None = None
    run_count: int = 0
    rows: int | None = None  # rows the statements reported moving (None: none reported)

    def observe(self, event: QueryEvent, fingerprint: str, recognizer: str | None) -> None:
        self.collectors.add(event.source)
        if event.query_id and len(self.query_ids) < MAX_LISTED and event.query_id not in self.query_ids:
            self.query_ids.append(event.query_id)
        if fingerprint:
            self.fingerprints.add(fingerprint)
        if recognizer:
            self.recognizers.add(recognizer)
        if event.user:
            self.users.add(event.user)
        if event.location and len(self.locations) < MAX_LISTED:
            self.locations.append(event.location)
        self.run_count += max(event.calls, 1)
        self.add_rows(event.rows)
        self.seen_at(event.time)

    def add_rows(self, rows: int | None) -> None:
        if rows is not None:
            self.rows = (self.rows or 0) + rows

    def seen_at(self, when: datetime | None) -> None:
        _widen(self, when)

    def merge(self, other: Evidence) -> None:
        self.collectors |= other.collectors
        for qid in other.query_ids:
            if len(self.query_ids) < MAX_LISTED and qid not in self.query_ids:
                self.query_ids.append(qid)
        self.fingerprints |= other.fingerprints
        self.recognizers |= other.recognizers
        self.users |= other.users
        for loc in other.locations:
            if len(self.locations) < MAX_LISTED and loc not in self.locations:
                self.locations.append(loc)
        self.run_count += other.run_count
        self.add_rows(other.rows)
        self.seen_at(other.first_seen)
        self.seen_at(other.last_seen)

    def copy(self) -> Evidence:
        clone = Evidence()
        clone.merge(self)
        return clone

    def to_json(self) -> dict[str, Any]:
        return {
            "collectors": sorted(self.collectors),
            "query_ids": list(self.query_ids),
            "fingerprints": sorted(self.fingerprints),
            "recognizers": sorted(self.recognizers),
            "users": sorted(self.users),
            "locations": list(self.locations),
            "first_seen": _iso(self.first_seen),
            "last_seen": _iso(self.last_seen),
            "run_count": self.run_count,
        } | ({"rows": self.rows} if self.rows is not None else {})


def _iso(when: datetime | None) -> str | None:
    return when.isoformat() if when else None


@dataclass(slots=True)
class ColumnMapping:
    target: str
    sources: set[tuple[str, str]] = field(default_factory=set)  # (dataset id, field)
    transform: str = "identity"


@dataclass(slots=True)
class LineageEdge:
    source: str
    target: str
    kind: str  # export | unload | load | import | transform
    columns: dict[str, ColumnMapping] = field(default_factory=dict)
    indirect: set[tuple[str, str]] = field(default_factory=set)
    evidence: Evidence = field(default_factory=Evidence)
    confidence: float = 1.0
    match: str | None = None  # how an S3 read was stitched to its producer

    def add_column(self, target: str, sources: set[tuple[str, str]], transform: str) -> None:
        existing = self.columns.get(target)
        if existing is None:
            self.columns[target] = ColumnMapping(target, set(sources), transform)
            return
        existing.sources |= sources
        if existing.transform != transform:
            existing.transform = "transform"


@dataclass(slots=True)
class Member:
    """An observed S3 object of a folded dataset."""

    key: str
    first_seen: datetime | None = None
    last_seen: datetime | None = None
    written: bool = False
    loaded: bool = False
    # what S3 itself says (set by s3lineage.discover when [s3] is configured)
    size: int | None = None
    last_modified: datetime | None = None
    etag: str | None = None

    def seen_at(self, when: datetime | None) -> None:
        _widen(self, when)


@dataclass(slots=True)
class DatasetNode:
    ref: DatasetRef
    system: str
    fields: list[str] = field(default_factory=list)
    members: dict[str, Member] = field(default_factory=dict)
    file_format: str | None = None
    is_prefix: bool = False
    # technical metadata from S3 (s3lineage.discover): objects, size, last_modified, etag,
    # format, compression, content_type, schema, rows…; empty when S3 was not read
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return self.ref.id

    def add_fields(self, names: list[str] | tuple[str, ...]) -> None:
        for name in names:
            if name not in self.fields:
                self.fields.append(name)


class LineageGraph:
    """Datasets and the edges between them."""

    def __init__(self) -> None:
        self.g: nx.DiGraph = nx.DiGraph()

    def dataset(self, ref: DatasetRef) -> DatasetNode:
        node_id = ref.id
        if node_id not in self.g:
            node = DatasetNode(ref, system_of(ref), is_prefix=ref.name.endswith("/"))
            self.g.add_node(node_id, node=node)
            return node
        return self.g.nodes[node_id]["node"]

    def node(self, node_id: str) -> DatasetNode:
        return self.g.nodes[node_id]["node"]

    def edge(self, source: DatasetRef, target: DatasetRef, kind: str) -> LineageEdge:
        self.dataset(source)
        self.dataset(target)
        if self.g.has_edge(source.id, target.id):
            return self.g.edges[source.id, target.id]["edge"]
        edge = LineageEdge(source.id, target.id, kind)
        self.g.add_edge(source.id, target.id, edge=edge)
        return edge

    def datasets(self) -> list[DatasetNode]:
        return [self.g.nodes[n]["node"] for n in sorted(self.g.nodes)]

    def edges(self) -> list[LineageEdge]:
        return [self.g.edges[s, t]["edge"] for s, t in sorted(self.g.edges)]

    def column_graph(self) -> nx.DiGraph:
        """Column nodes ``(dataset id, field)`` with direct edges (attribute ``transform``)."""
        columns = nx.DiGraph()
        for edge in self.edges():
            for mapping in edge.columns.values():
                for source in mapping.sources:
                    columns.add_edge(source, (edge.target, mapping.target),
                                     transform=mapping.transform, via=(edge.source, edge.target))
        return columns
