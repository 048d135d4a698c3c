"""The desired Atlan state for a lineage graph: S3 assets, processes, column processes.

Mapping (docs/atlan.md has the full story):

- one ``S3Bucket`` per bucket and one ``S3Object`` per *logical* S3 dataset (a key template
  such as ``exports/users/dt={dt}/users.csv`` or a prefix), in the S3 connection; an object
  or bucket a native crawler already made is referenced, never written;
- in ``partial_fields`` mode one ``PartialField`` per file field under its S3Object;
- one ``Process`` per hop (edge) in the lineage connection, ``process_id`` derived from the
  hop's endpoints (``s3lineage/<kind>/<sha1(source -> target)>``) so every run addresses the
  same asset; name, literal-redacted SQL and an evidence summary;
- one ``ColumnProcess`` per column mapping, parented by a qualifiedName reference. Column
  processes never have an S3Object as input or output: an object has no columns, so that
  would link every exported column to every loaded one. They go through PartialFields, or
  (``direct`` mode) from Postgres column straight to Snowflake column through an end-to-end
  process per (producer table, S3 dataset, consumer table).
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from s3lineage.graph.model import DatasetNode, LineageEdge, LineageGraph
from s3lineage.model import Dialect
from s3lineage.publish.endpoints import Endpoints
from s3lineage.publish.settings import AtlanSettings

MARKER = "s3lineage"  # sourceCreatedBy of the S3 assets s3lineage creates (its ownership mark)
ID_PREFIX = "s3lineage/"  # every process id s3lineage writes starts with this
PHASES = ("bucket", "object", "field", "process", "column_process")
MAX_SQL_STATEMENTS = 5
MAX_SQL_CHARS = 50_000
MAX_NAME = 250
_CONTENT_TYPES = {"csv": "text/csv", "text": "text/plain", "json": "application/json",
                  "parquet": "application/vnd.apache.parquet", "avro": "application/avro",
                  "orc": "application/x-orc", "xml": "application/xml"}


@dataclass(slots=True)
class Desired:
    """One asset as s3lineage wants it in Atlan (``asset`` is the pyatlan object to save)."""

    phase: str
    asset: Any
    edges: tuple[str, ...] = ()
    depends_on: tuple[str, ...] = ()  # QNs this asset references and s3lineage may write
    sql_known: bool = True  # False: leave the asset's sql as it is in Atlan

    @property
    def type_name(self) -> str:
        return str(self.asset.type_name)

    @property
    def qualified_name(self) -> str:
        return str(self.asset.qualified_name)

    @property
    def name(self) -> str:
        return str(self.asset.name)


@dataclass(slots=True)
class S3Existing:
    """S3 assets already in the S3 connection (crawled, or created by an earlier publish)."""

    buckets: dict[str, Any] = field(default_factory=dict)  # bucket name -> asset
    objects: list[Any] = field(default_factory=list)
    owned: dict[tuple[str, str], Any] = field(default_factory=dict)  # (type, QN) -> asset


@dataclass(slots=True)
class Skip:
    what: str  # "edge" | "column" | ...
    key: str
    reason: str


@dataclass(slots=True)
class DesiredState:
    assets: list[Desired] = field(default_factory=list)
    skipped: list[Skip] = field(default_factory=list)
    reused: list[tuple[str, str]] = field(default_factory=list)  # (type, QN) of crawled assets used
    # QN -> (dataset id, field) for every column-level endpoint: lets tests and reports read
    # column processes back as graph column lineage
    column_index: dict[str, tuple[str, str]] = field(default_factory=dict)

    def by_qn(self) -> dict[tuple[str, str], Desired]:
        return {(d.type_name, d.qualified_name): d for d in self.assets}


def process_id(kind: str, *endpoints: str) -> str:
    """Deterministic id of a process: same endpoints, same id, every run."""
    digest = hashlib.sha1("\x1f".join(endpoints).encode()).hexdigest()[:20]
    return f"{ID_PREFIX}{kind}/{digest}"


def column_process_id(parent_id: str, target: str) -> str:
    return f"{parent_id}/col/{hashlib.sha1(target.encode()).hexdigest()[:12]}"


def _temp_guid() -> str:
    # the same shape pyatlan's creators give new assets (a negative number)
    return str(-random.randint(10**15, 10**16 - 1))


def _clip(text: str) -> str:
    return text if len(text) <= MAX_NAME else text[: MAX_NAME - 1] + "…"


def display(node: DatasetNode) -> str:
    return node.ref.display if node.system == "s3" else node.ref.name


class Builder:
    """Builds the :class:`DesiredState` for the edges chosen for publishing."""

    def __init__(self, graph: LineageGraph, settings: AtlanSettings, lineage_qn: str, s3_qn: str,
                 endpoints: Endpoints, s3: S3Existing,
                 statements: Mapping[str, str] | None = None) -> None:
        self.graph = graph
        self.settings = settings
        self.lineage_qn = lineage_qn
        self.s3_qn = s3_qn
        self.endpoints = endpoints
        self.s3 = s3
        self.statements = statements
        self.state = DesiredState()
        self._objects: dict[str, str] = {}  # S3 dataset id -> object QN
        self._fields: dict[tuple[str, str], str] = {}  # (dataset id, field) -> PartialField QN
        self._seen: set[tuple[str, str]] = set()

    # --- entry --------------------------------------------------------------------------------

    def build(self, edges: list[LineageEdge]) -> DesiredState:
        published: list[LineageEdge] = []
        for edge in edges:
            why = self._unpublishable(edge)
            if why:
                self.state.skipped.append(Skip("edge", _edge_id(edge), why))
                continue
            published.append(edge)
            for end in (edge.source, edge.target):
                if self.graph.node(end).system == "s3":
                    self._s3_dataset(self.graph.node(end))
            self._hop(edge)
        if self.settings.column_mode == "direct":
            self._direct(published)
        self.state.assets.sort(key=lambda d: (PHASES.index(d.phase), d.type_name, d.qualified_name))
        return self.state

    def _unpublishable(self, edge: LineageEdge) -> str | None:
        for end in (edge.source, edge.target):
            node = self.graph.node(end)
            if node.ref.kind.value == "stage":
                return f"{end} is a stage whose S3 location is unknown"
            if node.system != "s3" and end not in self.endpoints.tables:
                return f"endpoint missing in Atlan: {self.endpoints.missing.get(end, end + ' not resolved')}"
        return None

    def _add(self, desired: Desired) -> None:
        key = (desired.type_name, desired.qualified_name)
        if key not in self._seen:
            self._seen.add(key)
            self.state.assets.append(desired)

    # --- S3 -----------------------------------------------------------------------------------

    def _s3_dataset(self, node: DatasetNode) -> str:
        if node.id in self._objects:
            return self._objects[node.id]
        from pyatlan.model.assets import S3Bucket, S3Object

        bucket = node.ref.namespace.removeprefix("s3://")
        key = node.ref.name
        existing_bucket = self.s3.buckets.get(bucket)
        if existing_bucket is not None and (existing_bucket.source_created_by or "") != MARKER:
            bucket_qn = str(existing_bucket.qualified_name)  # crawled: referenced, never written
            self._reuse("S3Bucket", bucket_qn)
        else:
            asset = S3Bucket.creator(name=bucket, connection_qualified_name=self.s3_qn)
            asset.source_created_by = MARKER
            bucket_qn = str(asset.qualified_name)
            self._add(Desired("bucket", asset))
        crawled = self._crawled_object(node, bucket)
        if crawled is not None:
            object_qn = str(crawled.qualified_name)
            self._reuse("S3Object", object_qn)
        else:
            arn = f"arn:aws:s3:::{bucket}/{key}"
            asset = S3Object.creator(name=key, connection_qualified_name=self.s3_qn, aws_arn=arn,
                                     s3_bucket_name=bucket, s3_bucket_qualified_name=bucket_qn)
            asset.s3_object_key = key
            asset.source_created_by = MARKER
            asset.description = _object_description(node)
            if node.file_format:
                asset.s3_object_content_type = _CONTENT_TYPES.get(node.file_format.lower(),
                                                                  node.file_format)
            size, modified = _size_and_modified(node)
            if size is not None:
                asset.s3_object_size = size
            if modified is not None:
                asset.s3_object_last_modified_time = modified
            object_qn = str(asset.qualified_name)
            self._add(Desired("object", asset, depends_on=(bucket_qn,)))
        self._objects[node.id] = object_qn
        if self.settings.column_mode == "partial_fields":
            for name in node.fields:
                self._partial_field(node, object_qn, name)
        return object_qn

    def _crawled_object(self, node: DatasetNode, bucket: str) -> Any | None:
        """An object a crawler made for this dataset: only when the dataset is one concrete key."""
        key = node.ref.name
        if node.is_prefix or "{" in key or set(node.members) - {key}:
            return None
        arn = f"arn:aws:s3:::{bucket}/{key}"
        matches = [o for o in self.s3.objects
                   if (o.source_created_by or "") != MARKER and o.s3_bucket_name == bucket
                   and (o.s3_object_key == key or o.aws_arn == arn)]
        return min(matches, key=lambda o: str(o.qualified_name)) if matches else None

    def _reuse(self, type_name: str, qn: str) -> None:
        if (type_name, qn) not in self.state.reused:
            self.state.reused.append((type_name, qn))

    def _partial_field(self, node: DatasetNode, object_qn: str, name: str) -> str:
        key = (node.id, name)
        if key in self._fields:
            return self._fields[key]
        from pyatlan.model.assets import PartialField, S3Object

        asset = PartialField(attributes=PartialField.Attributes(name=name, qualified_name=f"{object_qn}/{name}"))
        asset.guid = _temp_guid()
        asset.connection_qualified_name = self.s3_qn
        asset.connector_name = "s3"
        asset.partial_parent_asset = S3Object.ref_by_qualified_name(object_qn)
        asset.partial_parent_qualified_name = object_qn
        asset.partial_parent_type = "S3Object"
        asset.source_created_by = MARKER
        self._add(Desired("field", asset, depends_on=(object_qn,)))
        self._fields[key] = str(asset.qualified_name)
        self.state.column_index[str(asset.qualified_name)] = key
        return self._fields[key]

    # --- references ------------------------------------------------------------------------------

    def _dataset_ref(self, dataset_id: str) -> tuple[str, str]:
        node = self.graph.node(dataset_id)
        if node.system == "s3":
            return "S3Object", self._objects[dataset_id]
        table = self.endpoints.tables[dataset_id]
        return table.type_name, table.qualified_name

    def _column_ref(self, dataset_id: str, field_name: str) -> tuple[str, str] | None:
        node = self.graph.node(dataset_id)
        if node.system == "s3":
            if self.settings.column_mode != "partial_fields" or dataset_id not in self._objects:
                return None
            return "PartialField", self._partial_field(node, self._objects[dataset_id], field_name)
        table = self.endpoints.tables.get(dataset_id)
        column_qn = table.columns.get(field_name) if table else None
        if column_qn is None:
            return None
        self.state.column_index[column_qn] = (dataset_id, field_name)
        return "Column", column_qn

    # --- processes -------------------------------------------------------------------------------

    def _hop(self, edge: LineageEdge) -> None:
        source, target = self.graph.node(edge.source), self.graph.node(edge.target)
        pid = process_id(edge.kind, edge.source, edge.target)
        context = {"generator": "s3lineage", "edge": _edge_id(edge), "kind": edge.kind,
                   "confidence": round(edge.confidence, 3), "match": edge.match,
                   "evidence": _evidence_summary(edge)}
        sql = self._sql(edge)
        parent_qn = self._process(pid, f"{display(source)} → {display(target)} ({edge.kind})",
                                  [self._dataset_ref(edge.source)], [self._dataset_ref(edge.target)],
                                  context, sql, (_edge_id(edge),))
        touches_s3 = "s3" in (source.system, target.system)
        if touches_s3 and self.settings.column_mode == "direct":
            return  # column lineage goes PG → SF through the end-to-end processes
        for target_field, mapping in sorted(edge.columns.items()):
            sources = sorted(s for s in mapping.sources if s[0] == edge.source)
            self._column_process(parent_qn, pid, edge, (edge.target, target_field), sources,
                                 mapping.transform, (_edge_id(edge),))

    def _direct(self, published: list[LineageEdge]) -> None:
        """``direct`` mode: PG column → SF column through one end-to-end process per route."""
        into: dict[str, list[LineageEdge]] = {}
        for edge in published:
            if self.graph.node(edge.target).system == "s3":
                into.setdefault(edge.target, []).append(edge)
        for consumer in published:
            if self.graph.node(consumer.source).system != "s3":
                continue
            for producer in into.get(consumer.source, []):
                self._route(producer, consumer)

    def _route(self, producer: LineageEdge, consumer: LineageEdge) -> None:
        via = self.graph.node(consumer.source)
        source, target = self.graph.node(producer.source), self.graph.node(consumer.target)
        pid = process_id("e2e", producer.source, consumer.source, consumer.target)
        edge_ids = (_edge_id(producer), _edge_id(consumer))
        context = {"generator": "s3lineage", "edges": list(edge_ids), "kind": "end_to_end",
                   "via": via.ref.display,
                   "confidence": round(producer.confidence * consumer.confidence, 3)}
        parent_qn = self._process(pid, f"{display(source)} → {display(target)} via {via.ref.display}",
                                  [self._dataset_ref(producer.source)],
                                  [self._dataset_ref(consumer.target)], context, None, edge_ids)
        for target_field, mapping in sorted(consumer.columns.items()):
            sources: set[tuple[str, str]] = set()
            for dataset, file_field in mapping.sources:
                upstream = producer.columns.get(file_field) if dataset == consumer.source else None
                if upstream is not None:
                    sources |= {s for s in upstream.sources if s[0] == producer.source}
            if sources:
                self._column_process(parent_qn, pid, consumer, (consumer.target, target_field),
                                     sorted(sources), mapping.transform, edge_ids)

    def _process(self, pid: str, name: str, inputs: list[tuple[str, str]],
                 outputs: list[tuple[str, str]], context: dict[str, Any], sql: str | None,
                 edge_ids: tuple[str, ...]) -> str:
        from pyatlan.model.assets import Process

        asset = Process.creator(name=_clip(name), connection_qualified_name=self.lineage_qn,
                                process_id=pid, inputs=[_ref(*r) for r in inputs],
                                outputs=[_ref(*r) for r in outputs])
        asset.additional_etl_context = json.dumps(context, sort_keys=True)
        if sql is not None:
            asset.sql = sql
        self._add(Desired("process", asset, edge_ids, tuple(qn for _, qn in inputs + outputs),
                          sql_known=sql is not None or self.statements is None))
        return str(asset.qualified_name)

    def _column_process(self, parent_qn: str, parent_id: str, edge: LineageEdge,
                        target: tuple[str, str], sources: list[tuple[str, str]], transform: str,
                        edge_ids: tuple[str, ...]) -> None:
        from pyatlan.model.assets import ColumnProcess, Process

        out = self._column_ref(*target)
        ins = [(s, self._column_ref(*s)) for s in sources]
        missing = [f"{d}.{f}" for (d, f), ref in ins if ref is None]
        label = f"{target[0]}.{target[1]}"
        if out is None:
            self.state.skipped.append(Skip("column", label, "target column not found in Atlan"))
            return
        if missing:
            self.state.skipped.append(Skip("column", label, f"source column(s) not found in Atlan: {', '.join(missing)}"))
        refs = [ref for _, ref in ins if ref is not None]
        if not refs:
            return
        name = (f"{', '.join(_short(self.graph, s) for s, ref in ins if ref is not None)} → "
                f"{_short(self.graph, target)}")
        context = {"generator": "s3lineage", "edge": edge_ids[-1], "target": list(target),
                   "sources": [list(s) for s, ref in ins if ref is not None], "transform": transform}
        asset = ColumnProcess.creator(name=_clip(name), connection_qualified_name=self.lineage_qn,
                                      process_id=column_process_id(parent_id, target[1]),
                                      inputs=[_ref(*r) for r in refs], outputs=[_ref(*out)],
                                      parent=Process.ref_by_qualified_name(parent_qn))
        asset.additional_etl_context = json.dumps(context, sort_keys=True)
        deps = (parent_qn, *(qn for _, qn in refs), out[1])
        self._add(Desired("column_process", asset, edge_ids, deps))

    # --- SQL -------------------------------------------------------------------------------------

    def _sql(self, edge: LineageEdge) -> str | None:
        if not self.statements:
            return None
        from s3lineage.resolve.sqlglot_adapter import redact_literals

        dialect = _dialect_of(self.graph, edge)
        texts = [self.statements[f] for f in sorted(edge.evidence.fingerprints) if f in self.statements]
        if not texts:
            return None
        redacted = [redact_literals(t, dialect).strip() for t in texts[:MAX_SQL_STATEMENTS]]
        sql = ";\n\n".join(redacted)
        if len(texts) > MAX_SQL_STATEMENTS:
            sql += f";\n\n-- and {len(texts) - MAX_SQL_STATEMENTS} more statement shape(s)"
        return sql[:MAX_SQL_CHARS]


def _ref(type_name: str, qualified_name: str) -> Any:
    from pyatlan.model import assets

    cls = getattr(assets, type_name, None) or assets.Asset
    return cls.ref_by_qualified_name(qualified_name)


def _edge_id(edge: LineageEdge) -> str:
    return f"{edge.source} -> {edge.target}"


def _short(graph: LineageGraph, column: tuple[str, str]) -> str:
    node = graph.node(column[0])
    return f"{display(node)}#{column[1]}" if node.system == "s3" else f"{node.ref.name}.{column[1]}"


def _dialect_of(graph: LineageGraph, edge: LineageEdge) -> Dialect:
    """The system that ran the edge's statements: the export's source, the load's target."""
    source, target = graph.node(edge.source), graph.node(edge.target)
    runner = source if edge.kind in ("export", "unload") else target
    if runner.system == "s3":
        runner = source
    return Dialect.POSTGRES if runner.system == "postgres" else Dialect.SNOWFLAKE


def _size_and_modified(node: DatasetNode) -> tuple[int | None, Any]:
    """Total size and last modification of the dataset's objects, when known.

    S3's own figures (members filled by s3lineage.discover when ``[s3]`` is configured)
    win; without them the last write a statement was seen making stands in for the time.
    """
    members = list(node.members.values())
    sizes = [size for m in members if (size := getattr(m, "size", None)) is not None]
    stamps: list[datetime] = [when for m in members
                              if (when := getattr(m, "last_modified", None)) is not None]
    if not stamps:
        stamps = [m.last_seen for m in members if m.written and m.last_seen is not None]
    return (sum(sizes) if sizes else None), (max(stamps) if stamps else None)


def _object_description(node: DatasetNode) -> str:
    kind = "prefix" if node.is_prefix else ("key template" if "{" in node.ref.name else "object")
    text = f"S3 dataset inferred by s3lineage ({kind})"
    if node.members:
        text += f"; {len(node.members)} object(s) observed"
    if node.file_format:
        text += f"; format {node.file_format}"
    return text


def _evidence_summary(edge: LineageEdge) -> dict[str, Any]:
    ev = edge.evidence
    # users are left out on purpose: the catalog does not need who ran a statement
    return {"collectors": sorted(ev.collectors), "recognizers": sorted(ev.recognizers),
            "statements": len(ev.fingerprints), "run_count": ev.run_count,
            "first_seen": ev.first_seen.isoformat() if ev.first_seen else None,
            "last_seen": ev.last_seen.isoformat() if ev.last_seen else None,
            "query_ids": ev.query_ids[:5], "locations": ev.locations[:5]}
