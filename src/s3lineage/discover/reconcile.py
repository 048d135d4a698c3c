"""Reconciliation of what the SQL says with what S3 holds (one S3 dataset at a time).

Codes (see docs/diagnostics.md):

- ``s3_schema_drift``: an object's fields differ from the export's projection (or, for
  data nobody exported, objects of one dataset disagree);
- ``s3_unexplained_objects``: objects no statement read writes or loads;
- ``s3_export_missing``: an export (or unload) wrote objects S3 does not have, and no
  load took them first (a loaded-then-expired object is retention, not a problem);
- ``s3_not_loaded``: data landed (export time or object last-modified) and no load has
  read it within ``load_window_hours``;
- ``s3_dataset_stale``: the newest object is older than ``freshness_hours``;
- ``s3_row_count_mismatch``: rows the writers reported ≠ rows the loads reported
  (QUERY_HISTORY rows, COPY_HISTORY ROW_COUNT), or ≠ rows in the files' footers.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

from s3lineage.discover.inventory import Inventory
from s3lineage.discover.settings import S3Settings
from s3lineage.graph.model import DatasetNode, LineageGraph
from s3lineage.model import Diagnostic, Severity

MAX_LISTED = 5
MAX_UNEXPLAINED = 50
_POSITIONAL = re.compile(r"^\$(\d+)$")
_LOADS = ("load", "import")


def unexplained(strays: list[tuple[str, str, dict[str, Any]]]) -> list[Diagnostic]:
    """One info per folded dataset of objects the graph does not know (capped)."""
    found = []
    for bucket, template, summary in strays[:MAX_UNEXPLAINED]:
        where = f"s3://{bucket}/{template}"
        found.append(Diagnostic(
            "s3_unexplained_objects", Severity.INFO,
            f"{summary['objects']} object(s) in {where} (newest {summary['newest_key']}, "
            f"{summary['last_modified']}) that no statement read writes or loads", where))
    if len(strays) > MAX_UNEXPLAINED:
        found.append(Diagnostic(
            "s3_unexplained_objects", Severity.INFO,
            f"… and {len(strays) - MAX_UNEXPLAINED} more folded datasets no statement read "
            "writes or loads (see `s3lineage discover-s3 --json`)"))
    return found


def reconcile(graph: LineageGraph, node: DatasetNode, parts: list[tuple[str, dict[str, Any]]],
              inventory: Inventory, settings: S3Settings, now: datetime) -> list[Diagnostic]:
    return [
        *_drift(graph, node, parts),
        *_missing(graph, node, inventory),
        *_late(graph, node, settings, now),
        *_rows(graph, node),
    ]


def _writers(graph: LineageGraph, node: DatasetNode) -> list:
    return [d["edge"] for _, _, d in graph.g.in_edges(node.id, data=True)]


def _loads(graph: LineageGraph, node: DatasetNode) -> list:
    return [d["edge"] for _, _, d in graph.g.out_edges(node.id, data=True)
            if d["edge"].kind in _LOADS]


def _listed(items: list[str]) -> str:
    shown = ", ".join(items[:MAX_LISTED])
    return shown + (f" and {len(items) - MAX_LISTED} more" if len(items) > MAX_LISTED else "")


# --- schema drift --------------------------------------------------------------------------


def _drift(graph: LineageGraph, node: DatasetNode,
           parts: list[tuple[str, dict[str, Any]]]) -> list[Diagnostic]:
    schemas = [s for _, summary in parts for s in summary.get("schemas", [])]
    if not schemas:
        return []
    writers = _writers(graph, node)
    declared = list(node.fields) if writers else []
    if declared and all(_POSITIONAL.match(f) for f in declared):
        declared = []
    found = []
    if declared:
        who = ", ".join(sorted(e.source for e in writers))
        for schema in schemas:
            problem = _compare(declared, schema["fields"], schema["header"])
            if problem:
                more = f" (and {schema['objects'] - 1} more object(s) like it)" \
                    if schema["objects"] > 1 else ""
                found.append(Diagnostic(
                    "s3_schema_drift", Severity.WARNING,
                    f"s3://{_bucket(node)}/{schema['example']}{more} has fields "
                    f"[{', '.join(schema['fields'])}] but {who} writes "
                    f"[{', '.join(declared)}] to {node.id}: {problem}"
                    + _positional_note(graph, node), node.id))
        return found
    reference = schemas[0]  # newest
    for schema in schemas[1:]:
        problem = _compare(reference["fields"], schema["fields"], schema["header"])
        if problem and reference["header"]:
            found.append(Diagnostic(
                "s3_schema_drift", Severity.WARNING,
                f"objects of {node.id} disagree: s3://{_bucket(node)}/{schema['example']} has "
                f"[{', '.join(schema['fields'])}], the newest ({reference['example']}) has "
                f"[{', '.join(reference['fields'])}]: {problem}", node.id))
    return found


def _compare(declared: list[str], fields: list[str], header: bool) -> str | None:
    """What differs between the declared and the found fields (None: nothing)."""
    if not header:
        if len(fields) != len(declared):
            return f"the file has {len(fields)} columns (no header line), {len(declared)} declared"
        return None
    want = [f.lower() for f in declared]
    have = [f.lower() for f in fields]
    if want == have:
        return None
    missing = [f for f, low in zip(declared, want) if low not in have]
    extra = [f for f, low in zip(fields, have) if low not in want]
    parts = []
    if missing:
        parts.append(f"missing {', '.join(missing)}")
    if extra:
        parts.append(f"extra {', '.join(extra)}")
    if not parts:
        parts.append("same fields in another order")
    return "; ".join(parts)


def _positional_note(graph: LineageGraph, node: DatasetNode) -> str:
    positional = [e.target for e in _loads(graph, node)
                  if any(t == "positional" for t in (m.transform for m in e.columns.values()))
                  or any(_POSITIONAL.match(f) for m in e.columns.values() for _, f in m.sources)]
    if positional:
        return f" (loaded by position into {', '.join(sorted(positional))}: columns shift)"
    return ""


def _bucket(node: DatasetNode) -> str:
    return node.ref.namespace.removeprefix("s3://")


# --- missing objects -----------------------------------------------------------------------


def _missing(graph: LineageGraph, node: DatasetNode, inventory: Inventory) -> list[Diagnostic]:
    if not _writers(graph, node):
        return []
    bucket = _bucket(node)
    absent = []
    for member in sorted(node.members.values(), key=lambda m: m.key):
        if not member.written or member.loaded or not inventory.scanned(bucket, member.key):
            continue
        if member.key.endswith("/"):
            if node.metadata.get("objects", 0) == 0:
                absent.append(member.key)
            continue
        obj = inventory.get(bucket, member.key)
        if obj is None or obj.deleted:
            absent.append(member.key)
    if not absent:
        return []
    return [Diagnostic(
        "s3_export_missing", Severity.WARNING,
        f"{len(absent)} object(s) written to {node.id} are not in S3 and were never loaded: "
        f"{_listed(absent)}", node.id)]


# --- freshness ------------------------------------------------------------------------------


def _parse(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


def _late(graph: LineageGraph, node: DatasetNode, settings: S3Settings,
          now: datetime) -> list[Diagnostic]:
    found = []
    newest_object = _parse(node.metadata.get("last_modified"))
    if settings.freshness_hours is not None and newest_object is not None:
        age = now - newest_object
        if age > timedelta(hours=settings.freshness_hours):
            found.append(Diagnostic(
                "s3_dataset_stale", Severity.WARNING,
                f"{node.id}: the newest object ({node.metadata.get('newest_key')}) is from "
                f"{newest_object.isoformat()}, older than freshness_hours = "
                f"{settings.freshness_hours:g}", node.id))
    loads = _loads(graph, node)
    if not loads:
        return found  # never loaded at all: the graph's s3_written_not_loaded says so
    written_times = [e.evidence.last_seen for e in _writers(graph, node) if e.evidence.last_seen]
    if newest_object is not None:
        written_times.append(newest_object)
    if not written_times:
        return found
    last_written = max(written_times)
    load_times = [e.evidence.last_seen for e in loads if e.evidence.last_seen]
    last_loaded = max(load_times) if load_times else None
    window = timedelta(hours=settings.load_window_hours)
    if (last_loaded is None or last_loaded < last_written) and now - last_written > window:
        source = ("object " + str(node.metadata.get("newest_key"))
                  if newest_object is not None and newest_object == last_written else "export")
        loaded = last_loaded.isoformat() if last_loaded else "never"
        found.append(Diagnostic(
            "s3_not_loaded", Severity.WARNING,
            f"{node.id}: data written at {last_written.isoformat()} ({source}) has not been "
            f"loaded within load_window_hours = {settings.load_window_hours:g} "
            f"(last load: {loaded})", node.id))
    return found


# --- row counts -----------------------------------------------------------------------------


def _rows(graph: LineageGraph, node: DatasetNode) -> list[Diagnostic]:
    writers = _writers(graph, node)
    written = _total([e.evidence.rows for e in writers])
    single_run = sum(e.evidence.run_count for e in writers) == 1
    in_files = node.metadata.get("rows")
    found = []
    if written is not None and in_files is not None and single_run and written != in_files:
        found.append(Diagnostic(
            "s3_row_count_mismatch", Severity.WARNING,
            f"{node.id}: the export reported {written:,} rows, the files' footers hold "
            f"{in_files:,}", node.id))
    loads = _loads(graph, node)
    # a load also reading other S3 datasets reports their rows too: not comparable
    exclusive = [e for e in loads
                 if all(src == node.id for src in graph.g.predecessors(e.target)
                        if graph.node(src).system == "s3")]
    loaded = _total([e.evidence.rows for e in loads]) if len(exclusive) == len(loads) else None
    settled = _settled(writers, loads)
    if written is not None and loaded is not None and settled and written != loaded:
        found.append(Diagnostic(
            "s3_row_count_mismatch", Severity.WARNING,
            f"{node.id}: writers reported {written:,} rows, loads reported {loaded:,} "
            f"({', '.join(sorted(e.target for e in loads))})", node.id))
    return found


def _total(counts: list[int | None]) -> int | None:
    if not counts or any(c is None for c in counts):
        return None
    return sum(c for c in counts if c is not None)


def _settled(writers: list, loads: list) -> bool:
    """Every write has had its load (the last load is after the last write)."""
    last_written = max((e.evidence.last_seen for e in writers if e.evidence.last_seen), default=None)
    last_loaded = max((e.evidence.last_seen for e in loads if e.evidence.last_seen), default=None)
    return last_written is not None and last_loaded is not None and last_loaded >= last_written
