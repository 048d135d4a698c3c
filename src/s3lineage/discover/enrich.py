"""What S3 itself says joins the graph's S3 layer (``[s3]`` configured).

:func:`enrich_graph` is called by the runner after the graph is built, for dry runs
(``store=None``: the configured buckets are listed now, into a temporary inventory) and
scheduled runs (the state store's inventory, kept by ``discover-s3`` and S3 events; a
bucket/prefix never listed is listed now unless ``scan_on_run = "never"``). Each S3
dataset of the graph then gets

- ``metadata``: objects, size, last_modified (freshness), oldest_modified, etag,
  newest_key, format, compression, content_type, schema (the newest object's fields),
  rows (when every object's footer records it), templates (the folded keys matched);
- members: the objects the SQL named gain size/last_modified/etag, and the newest objects
  of the dataset (up to ``max_members``) are added;
- real field names where the SQL side only knew positions (``$1``…: a vendor file nobody
  exported), with the loads' column mappings renamed to match;

and :mod:`s3lineage.discover.reconcile` reports drift, unexplained or missing objects,
late loads and row-count mismatches.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from s3lineage.config import Config
from s3lineage.discover.inventory import Inventory
from s3lineage.discover.reconcile import reconcile, unexplained
from s3lineage.discover.scan import scan
from s3lineage.discover.settings import BucketScope, S3Settings
from s3lineage.discover.sources import open_store
from s3lineage.errors import S3LineageError
from s3lineage.graph.fold import Folder
from s3lineage.graph.model import DatasetNode, LineageGraph, Member
from s3lineage.model import DatasetKind, Diagnostic, Severity

_POSITIONAL = re.compile(r"^\$(\d+)$")


def enrich_graph(graph: LineageGraph, cfg: Config, store: Any = None, *,
                 now: datetime | None = None, object_store: Any = None,
                 scan_buckets: bool = True) -> list[Diagnostic]:
    """Join the S3 inventory to ``graph`` in place; returns the reconciliation diagnostics.

    ``scan_buckets=False`` (with a store) only reads the stored inventory: nothing is
    listed or written, whatever ``scan_on_run`` says — for read-only views of the state.
    """
    settings: S3Settings = cfg.sections["s3"]
    folder = Folder(cfg.graph.fold_rules, cfg.graph.fold_partitions)
    now = now or datetime.now(UTC)
    diagnostics: list[Diagnostic] = []
    inventory = Inventory.temporary() if store is None else Inventory(store.db)
    try:
        if store is None:
            scopes = settings.buckets
        else:
            scopes = scopes_to_scan(settings, inventory) if scan_buckets else ()
        if scopes:
            try:
                source = object_store if object_store is not None else open_store(settings)
                report = scan(settings, source, inventory, folder, scopes=scopes,
                              hints=format_hints(graph))
                diagnostics.extend(report.diagnostics)
            except S3LineageError as err:
                diagnostics.append(Diagnostic("s3_list_failed", Severity.ERROR, str(err)))
        elif store is not None and (settings.scan_on_run == "never" or not scan_buckets):
            for scope in settings.buckets:
                for prefix in scope.prefixes:
                    if inventory.last_scan(scope.name, prefix) is None:
                        diagnostics.append(Diagnostic(
                            "s3_inventory_missing", Severity.INFO,
                            f"s3://{scope.name}/{prefix} has never been listed: run "
                            "`s3lineage discover-s3` (scan_on_run = \"never\")",
                            f"s3://{scope.name}/{prefix}"))
        diagnostics.extend(apply_inventory(graph, inventory, settings, now))
    finally:
        if store is None:
            inventory.db.close()
    return diagnostics


def scopes_to_scan(settings: S3Settings, inventory: Inventory) -> tuple[BucketScope, ...]:
    """The bucket/prefixes a scheduled run lists, by ``scan_on_run``."""
    if settings.scan_on_run == "always":
        return settings.buckets
    if settings.scan_on_run == "never":
        return ()
    scopes = []
    for scope in settings.buckets:
        fresh = tuple(p for p in scope.prefixes if inventory.last_scan(scope.name, p) is None)
        if fresh:
            scopes.append(BucketScope(scope.name, fresh))
    return tuple(scopes)


def format_hints(graph: LineageGraph) -> dict[tuple[str, str], str]:
    """(bucket, template) → the file format the SQL named, for extension-less keys."""
    hints = {}
    for node in graph.datasets():
        if node.system == "s3" and node.file_format and not node.is_prefix:
            hints[(bucket_of(node), node.ref.name)] = node.file_format
    return hints


def bucket_of(node: DatasetNode) -> str:
    return node.ref.namespace.removeprefix("s3://")


def in_scope(scope: BucketScope, name: str) -> bool:
    """Whether a dataset name (template or prefix) lies in what the scope lists."""
    head = name.split("{", 1)[0]
    return any(head.startswith(p) or (name.endswith("/") and p.startswith(head))
               for p in scope.prefixes)


def apply_inventory(graph: LineageGraph, inventory: Inventory, settings: S3Settings,
                    now: datetime) -> list[Diagnostic]:
    """Match inventory datasets to the graph's S3 datasets, enrich them, reconcile."""
    nodes = [n for n in graph.datasets() if n.system == "s3" and n.ref.kind is DatasetKind.S3]
    matched: dict[str, list[tuple[str, dict[str, Any]]]] = {}
    strays: list[tuple[str, str, dict[str, Any]]] = []
    for bucket_scope in settings.buckets:
        in_bucket = [n for n in nodes if bucket_of(n) == bucket_scope.name]
        templates = {n.ref.name: n for n in in_bucket if not n.is_prefix}
        prefixes = sorted((n for n in in_bucket if n.is_prefix), key=lambda n: -len(n.ref.name))
        for template, summary in inventory.under(bucket_scope.name, ""):
            node = templates.get(template) or next(
                (p for p in prefixes if template.startswith(p.ref.name) or p.ref.name == "/"),
                None)
            if node is None:
                strays.append((bucket_scope.name, template, summary))
            else:
                matched.setdefault(node.id, []).append((template, summary))
    diagnostics = unexplained(strays)
    for node in nodes:
        scope = settings.scope(bucket_of(node))
        if scope is None or not in_scope(scope, node.ref.name):
            continue
        parts = matched.get(node.id, [])
        node.metadata = dataset_metadata(parts)
        if node.file_format is None and node.metadata.get("format"):
            node.file_format = node.metadata["format"]
        _members(node, parts, inventory, settings.max_members)
        _real_fields(graph, node)
        diagnostics.extend(reconcile(graph, node, parts, inventory, settings, now))
    return diagnostics


def dataset_metadata(parts: list[tuple[str, dict[str, Any]]]) -> dict[str, Any]:
    """One dataset's technical metadata from its inventory summaries (one per template)."""
    summaries = [s for _, s in parts]
    newest = max(summaries, key=lambda s: (s["last_modified"] or "", s["newest_key"]),
                 default=None)
    with_schema = [s for s in sorted(summaries, key=lambda s: s["last_modified"] or "",
                                     reverse=True) if s.get("fields") is not None]
    rows = [s.get("rows") for s in summaries]
    return {
        "objects": sum(s["objects"] for s in summaries),
        "size": sum(s["size"] for s in summaries),
        "last_modified": newest["last_modified"] if newest else None,
        "oldest_modified": min((s["oldest"] for s in summaries if s["oldest"]), default=None),
        "newest_key": newest["newest_key"] if newest else None,
        "etag": newest["etag"] if newest else None,
        "format": newest["format"] if newest else None,
        "compression": newest["compression"] if newest else None,
        "content_type": newest["content_type"] if newest else None,
        "schema": with_schema[0]["fields"] if with_schema else None,
        "schema_header": with_schema[0]["header"] if with_schema else None,
        "schema_key": with_schema[0]["schema_key"] if with_schema else None,
        "rows": sum(rows) if rows and all(r is not None for r in rows) else None,
        "templates": sorted(t for t, _ in parts),
    }


def _members(node: DatasetNode, parts: list[tuple[str, dict[str, Any]]],
             inventory: Inventory, limit: int) -> None:
    bucket = bucket_of(node)
    for member in node.members.values():
        if member.key.endswith("/"):
            continue
        obj = inventory.get(bucket, member.key)
        if obj is not None and not obj.deleted:
            member.size, member.last_modified, member.etag = obj.size, obj.last_modified, obj.etag
    added = 0
    for template, _ in parts:
        for obj in inventory.objects(bucket, template, limit=limit):
            if added >= limit:
                return
            if obj.key in node.members:
                continue
            node.members[obj.key] = Member(obj.key, size=obj.size,
                                           last_modified=obj.last_modified, etag=obj.etag)
            added += 1


def _real_fields(graph: LineageGraph, node: DatasetNode) -> None:
    """Files nobody we read writes get the field names their files have: positions ($1…)
    and the names a load guessed (MATCH_BY_COLUMN_NAME gives the *target's* names) become
    the header's / schema's names, and the column mappings of the edges that read them
    follow. A field the files do not have is no field: mappings from it are dropped."""
    names = node.metadata.get("schema")
    if not names or not node.metadata.get("schema_header"):
        return
    if graph.g.in_degree(node.id) and node.fields:
        return  # an export names the fields: drift is reported, not renamed
    lowered = {n.lower(): n for n in names}

    def rename(field: str) -> str | None:
        match = _POSITIONAL.match(field)
        if match:
            index = int(match.group(1))
            return names[index - 1] if 0 < index <= len(names) else None
        return lowered.get(field.lower())

    node.fields = list(names)
    for _, _, data in graph.g.out_edges(node.id, data=True):
        edge = data["edge"]
        for mapping in edge.columns.values():
            mapping.sources = {(d, r) for d, f in mapping.sources
                               for r in [rename(f) if d == node.id else f] if r}
        edge.columns = {t: m for t, m in edge.columns.items() if m.sources}
        edge.indirect = {(d, r) for d, f in edge.indirect for r in [rename(f) if d == node.id else f] if r}
