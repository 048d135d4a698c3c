"""Resolved statements → the lineage graph, stitched across S3.

Statements are added one at a time and grouped by their resolution (a statement run a
million times is one group with a run count). :meth:`GraphBuilder.build` then

1. resolves stage references to S3 with the definition in force when each run happened,
2. turns every S3 write (Postgres export, Snowflake unload) into an edge to a *folded*
   S3 dataset (one per key template, the written objects kept as members),
3. stitches every S3 read (COPY INTO, pipe, import, external table) to the datasets whose
   objects fall under the read's location and match its PATTERN/FILES or are named in
   COPY_HISTORY, and carries column lineage through the files' fields
   (position ``$n`` → the export's n-th field, names case-insensitively).
"""

from __future__ import annotations

import re
from array import array
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from s3lineage.collect.snowflake_files import CopyLoad
from s3lineage.graph.fold import Folder
from s3lineage.graph.model import Evidence, LineageGraph, Member, system_of
from s3lineage.graph.stages import StageMap
from s3lineage.model import (
    ColumnEdge,
    DatasetKind,
    DatasetRef,
    Diagnostic,
    EdgeKind,
    QueryEvent,
    ReadFilter,
    Resolution,
    Severity,
)
from s3lineage.naming import join_s3, s3_ref

# Confidence factor by how a read was matched to the objects it loaded.
MATCH_FACTORS = {"copy_history": 1.0, "exact": 1.0, "pattern": 0.95, "prefix": 0.85, "unmatched": 1.0}
_POSITIONAL = re.compile(r"^\$(\d+)$")


@dataclass(slots=True)
class StatementGroup:
    """Every run of one resolved statement: its resolution and accumulated evidence."""

    resolution: Resolution
    evidence: Evidence
    where: str
    times: array | None = None  # run times, kept only when stage definitions may differ
    dirty: bool = True  # changed since loaded from the state store

    MAX_TIMES = 10_000  # older run times are dropped (the run count stays exact)

    def add_time(self, when: datetime) -> None:
        if self.times is None:
            return
        self.times.append(_aware(when).timestamp())
        if len(self.times) > self.MAX_TIMES:
            del self.times[: len(self.times) - self.MAX_TIMES]


@dataclass(slots=True)
class _Write:
    ref: DatasetRef  # the object or prefix written
    dataset: DatasetRef  # its folded dataset
    fields: tuple[str, ...]
    when: datetime | None


@dataclass(slots=True)
class _Read:
    location: DatasetRef  # S3 object or prefix read
    target: DatasetRef
    edges: list[ColumnEdge]
    original: DatasetRef  # the location as the statement named it (stage or S3)
    filters: list[ReadFilter]
    evidence: Evidence
    confidence: float
    pipe: str | None = None
    files: list[str] = field(default_factory=list)  # COPY_HISTORY files claimed
    file_format: str | None = None


class GraphBuilder:
    """Accumulates observations; :meth:`build` produces the graph and its diagnostics."""

    def __init__(self, folder: Folder | None = None, catalogs: dict | None = None) -> None:
        self.folder = folder or Folder()
        self.catalogs = catalogs if catalogs is not None else {}  # namespace → SchemaProvider
        self.stages = StageMap()
        self._groups: dict[Resolution, StatementGroup] = {}
        self._loads: dict[tuple[str, str], list[CopyLoad]] = defaultdict(list)
        self._pipes: dict[tuple[str, str], tuple[Resolution, Evidence]] = {}
        self._claimed: set[int] = set()  # id() of COPY_HISTORY rows a read accounted for
        self._load_keys: set[tuple] = set()
        self.new_stage_definitions: list[tuple[str, str, str | None, datetime | None]] = []
        # called with (event, resolution, fingerprint) for every statement added (auditing
        # samples statement texts this way; the builder itself keeps no raw SQL)
        self.observers: list[Callable[[QueryEvent, Resolution, str], None]] = []
        self.diagnostics: list[Diagnostic] = []

    # --- input ------------------------------------------------------------------------

    def add_statement(self, event: QueryEvent, resolution: Resolution, fingerprint: str) -> None:
        for observer in self.observers:
            observer(event, resolution, fingerprint)
        if resolution.stage_url is not None:
            stage, url = resolution.stage_url
            self.stages.add_definition(stage.namespace, stage.name.split("/")[0], url, event.time)
            self.new_stage_definitions.append((stage.namespace, stage.name.split("/")[0], url, event.time))
            return
        if not resolution.outputs:
            return
        group = self._groups.get(resolution)
        if group is None:
            group = StatementGroup(resolution, Evidence(), event.where)
            if any(r.kind is DatasetKind.STAGE for r in (*resolution.inputs, *resolution.outputs)):
                group.times = array("d")
            self._groups[resolution] = group
        group.evidence.observe(event, fingerprint, resolution.recognizer)
        group.dirty = True
        if event.time is not None:
            group.add_time(event.time)
        if resolution.pipe:
            self._pipes[(event.namespace or "", resolution.pipe.upper())] = (resolution, group.evidence)

    def add_rows(self, resolutions: list[Resolution], rows: int) -> None:
        """Rows reported elsewhere (pg_stat_statements) for runs these statements' groups
        already counted, shared out by run count."""
        groups = [self._groups[r] for r in resolutions if r in self._groups]
        runs = sum(g.evidence.run_count for g in groups)
        given = 0
        for i, group in enumerate(groups):
            share = rows - given if i == len(groups) - 1 else rows * group.evidence.run_count // max(runs, 1)
            given += share
            group.evidence.add_rows(share)
            group.dirty = True

    def add_group(self, group: StatementGroup) -> None:
        """A group loaded from the state store (statements of earlier runs)."""
        group.dirty = False
        self._groups[group.resolution] = group
        if group.resolution.pipe:
            namespace = group.resolution.outputs[0].namespace if group.resolution.outputs else ""
            self._pipes[(namespace, group.resolution.pipe.upper())] = (group.resolution, group.evidence)

    def groups(self) -> list[StatementGroup]:
        return list(self._groups.values())

    def add_stage(self, namespace: str, name: str, url: str | None) -> None:
        self.stages.add_listed(namespace, name, url)

    def add_copy_load(self, namespace: str, load: CopyLoad) -> bool:
        """Record a COPY_HISTORY row; False when it moved no data or was already known."""
        if not load.loaded:
            return False
        key = (load.stage_location, load.file_name, load.table, load.last_load_time)
        if key in self._load_keys:
            return False
        self._load_keys.add(key)
        table = ".".join(load.table)
        self._loads[(namespace, table.upper())].append(load)
        return True

    # --- build ------------------------------------------------------------------------

    def build(self) -> LineageGraph:
        graph = LineageGraph()
        writes: list[_Write] = []
        reads: list[_Read] = []
        for group in self._groups.values():
            for mapping, evidence in self._stage_variants(group):
                self._place(graph, group, mapping, evidence, writes, reads)
        self._stitch(graph, writes, reads)
        self._unclaimed_loads(graph)
        self._describe_datasets(graph)
        return graph

    def _stage_variants(self, group: StatementGroup):
        """Split a group's runs by the stage definitions in force when they ran."""
        resolution = group.resolution
        stage_refs = [r for r in (*resolution.inputs, *resolution.outputs) if r.kind is DatasetKind.STAGE]
        if not stage_refs:
            yield {}, group.evidence
            return
        times = sorted([*(group.times or []), *self._pipe_load_times(resolution)])
        buckets: dict[tuple, tuple[dict, list[float]]] = {}
        for moment in times or [None]:
            when = datetime.fromtimestamp(moment, UTC) if moment is not None else group.evidence.last_seen
            mapping = {}
            for ref in stage_refs:
                resolved, status = self.stages.resolve(ref, when)
                mapping[ref] = (resolved, status)
            key = tuple(sorted((r.id, str(v[0])) for r, v in mapping.items()))
            bucket = buckets.setdefault(key, (mapping, []))
            if moment is not None:
                bucket[1].append(moment)
        for mapping, moments in buckets.values():
            evidence = group.evidence.copy()
            if len(buckets) > 1 and moments:
                evidence.run_count = len(moments)
                evidence.rows = None  # reported per statement, not per stage variant
                evidence.first_seen = datetime.fromtimestamp(min(moments), UTC)
                evidence.last_seen = datetime.fromtimestamp(max(moments), UTC)
            for ref, (resolved, status) in mapping.items():
                if status == "unknown_stage":
                    self._diag("unknown_stage", Severity.WARNING,
                               f"stage @{ref.name.split('/')[0]} is not in SHOW STAGES nor created in "
                               "the history read: its S3 location is unknown (add it to stages_file)",
                               group.where)
                elif status == "internal_stage":
                    self._diag("internal_stage", Severity.INFO,
                               f"stage @{ref.name.split('/')[0]} has no URL (internal stage): no S3 lineage",
                               group.where)
            yield {ref: resolved for ref, (resolved, _) in mapping.items()}, evidence

    def _pipe_load_times(self, resolution: Resolution) -> list[float]:
        """When a pipe's loads ran (COPY_HISTORY): its stage resolves as it was then, not as
        SHOW STAGES shows it now, nor when the pipe was created."""
        if not resolution.pipe:
            return []
        pipe = resolution.pipe.upper()
        return [
            _aware(load.last_load_time).timestamp()
            for loads in self._loads.values()
            for load in loads
            if load.pipe and load.pipe.upper() == pipe and load.last_load_time is not None
        ]

    def _place(self, graph, group, mapping, evidence, writes, reads) -> None:
        res = group.resolution

        def mapped(ref: DatasetRef) -> DatasetRef | None:
            if ref.kind is DatasetKind.STAGE:
                resolved = mapping.get(ref)
                return resolved if resolved is not None else ref
            return ref

        filters = {f.dataset: f for f in res.read_filters}
        for output in res.outputs:
            target = mapped(output)
            if target is None:
                continue
            if target.kind is DatasetKind.S3:
                dataset = self._fold(target)
                fields = res.fields_of(output)
                writes.append(_Write(target, dataset, fields, evidence.last_seen))
                node = graph.dataset(dataset)
                node.file_format = node.file_format or res.file_format
                node.add_fields(fields)  # the export's projection names the file's fields
                self._member(node, target.name, evidence, written=True)
                for source in res.inputs:
                    src = mapped(source)
                    if src is None:
                        continue
                    self._add_edge(graph, src, dataset, res, source, output, evidence, res.confidence,
                                   field_map=None)
                continue
            for source in res.inputs:
                src = mapped(source)
                if src is None:
                    continue
                if src.kind is DatasetKind.S3:
                    edges = [e for e in res.column_edges if e.target.dataset == output]
                    source_filters = [filters[source]] if source in filters else []
                    reads.append(_Read(src, target, edges, source, source_filters, evidence,
                                       res.confidence, pipe=res.pipe, file_format=res.file_format))
                else:
                    self._add_edge(graph, src, target, res, source, output, evidence, res.confidence)

    def _add_edge(self, graph, src, dst, res, original_src, original_dst, evidence, confidence,
                  field_map=None, match=None):
        kind = _edge_kind(src, dst)
        edge = graph.edge(src, dst, kind)
        edge.evidence.merge(evidence)
        edge.confidence = max(edge.confidence if edge.evidence.run_count > evidence.run_count else 0.0,
                              round(confidence, 3))
        if match:
            edge.match = match
        for col in res.column_edges:
            if col.target.dataset != original_dst:
                continue
            sources = {
                (src.id, field_map(s.column) if field_map else s.column)
                for s in col.sources
                if s.dataset == original_src
            }
            sources = {s for s in sources if s[1]}
            if not sources:
                continue
            if col.kind is EdgeKind.DIRECT:
                edge.add_column(col.target.column, sources, col.transform)
            else:
                edge.indirect |= sources
        return edge

    # --- S3 stitching --------------------------------------------------------------------

    def _fold(self, ref: DatasetRef) -> DatasetRef:
        return DatasetRef(ref.namespace, self.folder.template(ref.name), DatasetKind.S3)

    def _member(self, node, key: str, evidence: Evidence, *, written=False, loaded=False,
                when: datetime | None = None) -> None:
        member = node.members.get(key)
        if member is None:
            member = node.members[key] = Member(key)
        member.written |= written
        member.loaded |= loaded
        for moment in (evidence.first_seen, evidence.last_seen, when):
            member.seen_at(moment)

    def _stitch(self, graph: LineageGraph, writes: list[_Write], reads: list[_Read]) -> None:
        by_bucket: dict[str, list[_Write]] = defaultdict(list)
        for write in writes:
            by_bucket[write.ref.namespace].append(write)
        for read in reads:
            self._claim_history(read)
            matched: dict[DatasetRef, tuple[_Write, str]] = {}
            for write in by_bucket.get(read.location.namespace, []):
                how = _covers(read, write.ref.name)
                if how is not None:
                    previous = matched.get(write.dataset)
                    if previous is None or MATCH_FACTORS[how] > MATCH_FACTORS[previous[1]]:
                        matched[write.dataset] = (write, how)
            if matched:
                for dataset, (write, how) in matched.items():
                    node = graph.dataset(dataset)
                    for key in read.files:
                        if self.folder.template(key) == dataset.name:
                            self._member(node, key, read.evidence, loaded=True)
                    for member in node.members.values():
                        if member.written and _covers(read, member.key):
                            member.loaded = True
                    self._read_edge(graph, read, dataset, node.fields or list(write.fields), how)
                continue
            self._unmatched_read(graph, read)

    def _read_edge(self, graph, read: _Read, dataset: DatasetRef, fields: list[str], how: str) -> None:
        res = Resolution(None, column_edges=tuple(read.edges))
        field_map = _field_mapper(fields)
        edge = self._add_edge(graph, dataset, read.target, res, read.original, read.target,
                              read.evidence, read.confidence * MATCH_FACTORS[how],
                              field_map=field_map, match=how)
        edge.evidence.recognizers |= read.evidence.recognizers

    def _unmatched_read(self, graph: LineageGraph, read: _Read) -> None:
        """Nobody we saw wrote here: the read's own files (or location) become the dataset."""
        keys = read.files or [read.location.name]
        datasets: dict[DatasetRef, list[str]] = defaultdict(list)
        for key in keys:
            datasets[self._fold(DatasetRef(read.location.namespace, key, DatasetKind.S3))].append(key)
        for dataset, members in datasets.items():
            node = graph.dataset(dataset)
            node.file_format = node.file_format or read.file_format
            for key in members:
                if read.files:
                    self._member(node, key, read.evidence, loaded=True)
            self._read_edge(graph, read, dataset, node.fields, "unmatched")

    def _claim_history(self, read: _Read) -> None:
        """COPY_HISTORY files loaded into the read's table from under its location."""
        loads = self._loads.get((read.target.namespace, read.target.name.upper()), [])
        for load in loads:
            url = self._load_url(read.target.namespace, load)
            ref = s3_ref(url) if url else None
            if ref is None or ref.namespace != read.location.namespace:
                continue
            if read.pipe and load.pipe and load.pipe.upper() != read.pipe.upper():
                continue
            if not _under(read.location.name, ref.name):
                continue
            if ref.name not in read.files:
                read.files.append(ref.name)
                if load.pipe and read.pipe:  # Snowpipe runs exist only in COPY_HISTORY
                    read.evidence.run_count += 1
                    read.evidence.add_rows(load.row_count)
                    read.evidence.seen_at(load.last_load_time)
            self._claimed.add(id(load))

    def _load_url(self, namespace: str, load: CopyLoad) -> str | None:
        if load.url:
            return load.url
        location = (load.stage_location or "").lstrip("@")
        if not location:
            return None
        stage, _, path = location.partition("/")
        url, _ = self.stages.url_at(namespace, stage, load.last_load_time)
        if not url:
            return None
        return join_s3(join_s3(url, path), load.file_name)

    def _unclaimed_loads(self, graph: LineageGraph) -> None:
        """Loads only COPY_HISTORY knows of (history window, or a pipe defined long ago)."""
        for (namespace, table), loads in self._loads.items():
            for load in loads:
                if id(load) in self._claimed:
                    continue
                url = self._load_url(namespace, load)
                ref = s3_ref(url) if url else None
                location = (load.stage_location or "").strip()
                if ref is None and location.startswith(("@~", "@%")):
                    self._diag("internal_stage", Severity.INFO,
                               f"{table} loaded {load.file_name!r} from {location} (Snowflake-internal "
                               "storage fed by PUT): no S3 lineage", load.location)
                    continue
                if ref is None:
                    self._diag("unresolved_load", Severity.WARNING,
                               f"COPY_HISTORY file {load.file_name!r} into {table}: stage location "
                               f"{load.stage_location!r} is unknown", load.location)
                    continue
                target = DatasetRef(namespace, ".".join(load.table), DatasetKind.TABLE)
                pipe = self._pipes.get((namespace, (load.pipe or "").upper()))
                evidence = Evidence(collectors={"copy_history"}, run_count=1, rows=load.row_count)
                evidence.seen_at(load.last_load_time)
                read = _Read(ref, target, [], ref, [], evidence, 0.8, pipe=load.pipe, files=[ref.name])
                if pipe is not None:
                    read.edges = [e for e in pipe[0].column_edges if e.target.dataset == target]
                self._diag("copy_history_only", Severity.INFO,
                           f"{target.name} loaded {ref.display} but no COPY statement for it was read"
                           + (f" (pipe {load.pipe}: its definition is unknown)" if load.pipe and not pipe else ""),
                           load.location)
                self._claimed.add(id(load))
                writes_here = [n for n in graph.datasets() if n.ref.namespace == ref.namespace
                               and ref.name in n.members]
                if writes_here:
                    node = writes_here[0]
                    node.members[ref.name].loaded = True
                    self._read_edge(graph, read, node.ref, node.fields, "copy_history")
                else:
                    self._unmatched_read(graph, read)

    def _describe_datasets(self, graph: LineageGraph) -> None:
        for node in graph.datasets():
            if node.system in ("postgres", "snowflake") and node.ref.kind is DatasetKind.TABLE:
                catalog = self.catalogs.get(node.ref.namespace)
                known = catalog.columns(tuple(node.ref.name.split("."))) if catalog else None
                if known:
                    node.add_fields(list(known))
            for edge_id in list(graph.g.in_edges(node.id)) + list(graph.g.out_edges(node.id)):
                edge = graph.g.edges[edge_id]["edge"]
                if edge.target == node.id:
                    node.add_fields(sorted(edge.columns))
                else:
                    node.add_fields(sorted({f for m in edge.columns.values() for d, f in m.sources
                                            if d == node.id}))

    def _diag(self, code: str, severity: Severity, message: str, where: str | None) -> None:
        diagnostic = Diagnostic(code, severity, message, where)
        if diagnostic not in self.diagnostics:
            self.diagnostics.append(diagnostic)


def _edge_kind(src: DatasetRef, dst: DatasetRef) -> str:
    s, d = system_of(src), system_of(dst)
    if d == "s3":
        return "export" if s == "postgres" else "unload"
    if s == "s3":
        return "load" if d == "snowflake" else "import"
    return "transform"


def _under(location: str, key: str) -> bool:
    prefix = "" if location == "/" else location
    return key.startswith(prefix)


def _covers(read: _Read, key: str) -> str | None:
    """Whether ``read`` reads object/prefix ``key``: exact, pattern, prefix, or None."""
    location = "" if read.location.name == "/" else read.location.name
    if key in read.files:
        return "copy_history"
    if key.endswith("/"):  # a written prefix (unload): overlapping locations match
        if key.startswith(location) or location.startswith(key):
            return "prefix"
        return None
    if key == location:
        return "exact"
    if not key.startswith(location):
        return None
    for flt in read.filters:
        relative = key[len(location):]
        if flt.files and relative not in flt.files and key not in flt.files:
            return None
        if flt.pattern:
            try:
                regex = re.compile(flt.pattern)
            except re.error:
                return "prefix"
            if not (regex.fullmatch(key) or regex.fullmatch(relative) or regex.fullmatch("/" + key)):
                return None
        return "pattern"
    return "prefix"


def _field_mapper(fields: list[str]):
    """File field as a load names it (``$3``, ``EMAIL``, ``a.b``) → the dataset's field.

    When the dataset's fields are known (an export's projection), a name or position they
    do not have maps to nothing — a load's extra target column (``LOADED_AT``) is not a field
    of the file. ``a.b`` maps to field ``a`` (a JSON object's member). Unknown fields (a
    vendor feed nobody exports) keep the load's names.
    """
    lowered = {f.lower(): f for f in fields}

    def translate(name: str) -> str | None:
        match = _POSITIONAL.match(name)
        if match:
            index = int(match.group(1))
            if 0 < index <= len(fields):
                return fields[index - 1]
            return None if fields else name
        if not fields:
            return name
        found = lowered.get(name.lower())
        if found is None and "." in name:
            found = lowered.get(name.split(".", 1)[0].lower())
        return found

    return translate


def _aware(when: datetime) -> datetime:
    return when if when.tzinfo else when.replace(tzinfo=UTC)
