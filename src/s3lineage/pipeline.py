"""collect → resolve → graph → check, for the sources a config names.

:func:`infer` is the library entry point behind ``s3lineage infer``. It streams every
event once, resolves each distinct statement once (the resolver's cache), and never
stops on bad input: problems become diagnostics naming the file and line.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from s3lineage.collect import CollectReport
from s3lineage.collect.postgres_files import load_pg_columns, read_pg_stat_statements_csv
from s3lineage.collect.postgres_logs import read_postgres_log
from s3lineage.collect.snowflake_files import (
    load_snowflake_columns,
    read_copy_history,
    read_query_history,
    read_stages,
)
from s3lineage.collect.tabular import cell, read_rows
from s3lineage.config import Config, SourceConfig
from s3lineage.diagnostics import DiagnosticLog
from s3lineage.errors import InputError
from s3lineage.graph.build import GraphBuilder
from s3lineage.graph.checks import check_graph
from s3lineage.graph.fold import Folder
from s3lineage.graph.model import LineageGraph
from s3lineage.model import Dialect, QueryEvent, Severity
from s3lineage.resolve.resolver import Resolver, TempTables
from s3lineage.resolve.schema import Catalog
from s3lineage.resolve.sqlglot_adapter import normalized_forms

Progress = Callable[[str, int], None]


@dataclass(slots=True)
class InferenceResult:
    graph: LineageGraph
    diagnostics: DiagnosticLog
    stats: dict[str, Any] = field(default_factory=dict)


def infer(config: Config, progress: Progress | None = None, resolver: Resolver | None = None) -> InferenceResult:
    """Read every source of ``config`` and build the checked lineage graph."""
    started = time.monotonic()
    resolver = resolver or Resolver(idiom_dirs=config.idiom_dirs)
    report = CollectReport()
    diagnostics = DiagnosticLog()
    catalogs: dict[str, Catalog] = {}
    builder = GraphBuilder(Folder(config.graph.fold_rules, config.graph.fold_partitions), catalogs)
    counts = {"statements": 0, "lineage_statements": 0, "files_read": 0}
    fingerprints: set[str] = set()
    sessions = _Sessions()

    # Catalogs and stage maps first: statements resolve against them.
    for source in config.sources:
        catalog = catalogs.setdefault(source.namespace, Catalog())
        for path in source.paths("columns_file"):
            _guard(report, path, lambda p=path: _load_columns(source, p, catalog, report))
            counts["files_read"] += 1
        for path in source.paths("stages_file"):
            counts["files_read"] += 1
            for stage in _guarded_iter(report, path, lambda p=path: read_stages(p, report=report)):
                builder.add_stage(source.namespace, stage.qualified_name, stage.url)

    for source in config.sources:
        catalog = catalogs[source.namespace]
        logged_query_ids: set[str] = set()
        for path, events in _event_streams(source, report, logged_query_ids):
            counts["files_read"] += 1
            for event in _guarded_iter(report, path, lambda e=events: e):
                counts["statements"] += 1
                if event.query_id and event.source.startswith("postgres:"):
                    logged_query_ids.add(event.query_id)
                fingerprint, _ = normalized_forms(event.text, event.dialect) if len(event.text) < 1_000_000 else ("", "")
                fingerprints.add(fingerprint)
                resolution = resolver.resolve_event(event, catalog, sessions.temps_for(event))
                diagnostics.extend(resolution.diagnostics, event.where)
                if resolution.outputs or resolution.stage_url:
                    counts["lineage_statements"] += 1
                    builder.add_statement(event, resolution, fingerprint)
                if progress and counts["statements"] % 500 == 0:
                    progress(path.name, counts["statements"])
        for path in source.paths("copy_history_file"):
            counts["files_read"] += 1
            for load in _guarded_iter(report, path, lambda p=path: read_copy_history(p, report=report)):
                builder.add_copy_load(source.namespace, load)

    graph = builder.build()
    diagnostics.extend(report.diagnostics)
    diagnostics.extend(builder.diagnostics)
    diagnostics.extend(check_graph(graph, catalogs))
    failed = report.counts.get("failed_statements", 0)
    if failed:
        diagnostics.add(_summary_diag(
            "failed_statements_skipped", Severity.INFO,
            f"{failed} statement(s) failed when they ran (ERROR / EXECUTION_STATUS != SUCCESS) "
            "and produced no lineage"))
    stats = {
        "sources": len(config.sources),
        "files_read": counts["files_read"],
        "statements": counts["statements"],
        "lineage_statements": counts["lineage_statements"],
        "unique_fingerprints": len(fingerprints),
        "resolved": resolver.cache_misses,
        "cache_hits": resolver.cache_hits,
        "failed_statements": failed,
        "skipped_statements": report.counts.get("skipped_statements", 0),
        "datasets": graph.g.number_of_nodes(),
        "edges": graph.g.number_of_edges(),
        "seconds": round(time.monotonic() - started, 3),
    }
    return InferenceResult(graph, diagnostics, stats)


class _Sessions:
    """Temp tables per database session, so ``CREATE TEMP TABLE t AS …`` then
    ``COPY t TO PROGRAM 'aws s3 cp …'`` in one session exports t's sources."""

    MAX = 10_000

    def __init__(self) -> None:
        self._temps: OrderedDict[tuple[str, str], TempTables] = OrderedDict()

    def temps_for(self, event: QueryEvent) -> TempTables | None:
        if not event.session_id:
            return None
        key = (event.source, event.session_id)
        temps = self._temps.get(key)
        if temps is None:
            temps = self._temps[key] = TempTables()
            if len(self._temps) > self.MAX:
                self._temps.popitem(last=False)
        else:
            self._temps.move_to_end(key)
        return temps


def _event_streams(
    source: SourceConfig, report: CollectReport, logged_query_ids: set[str]
) -> Iterator[tuple[Path, Iterator[QueryEvent]]]:
    """Per file, its events. Logs come before pg_stat_statements so that statements the
    log already recorded (same queryid) are not counted twice."""
    if source.kind is Dialect.POSTGRES:
        for path in source.paths("log_files"):
            yield path, _lazy(lambda p=path: read_postgres_log(
                p, namespace=source.namespace, default_database=source.database,
                log_line_prefix=source.log_line_prefix, report=report))
        for path in source.paths("statements_file"):
            yield path, _lazy(lambda p=path: read_pg_stat_statements_csv(
                p, namespace=source.namespace, default_database=source.database, report=report,
                logged_query_ids=logged_query_ids))
    else:
        for path in source.paths("query_history_file"):
            yield path, _lazy(lambda p=path: read_query_history(p, namespace=source.namespace, report=report))
        for path in source.paths("pipes_file"):
            yield path, _lazy(lambda p=path: _pipe_definitions(p, source.namespace, report))


def _lazy(factory: Callable[[], Iterator[QueryEvent]]) -> Iterator[QueryEvent]:
    yield from factory()


def _pipe_definitions(path: Path, namespace: str, report: CollectReport) -> Iterator[QueryEvent]:
    """SHOW PIPES export: each definition becomes a CREATE PIPE statement to resolve."""
    for line, row in read_rows(path, report):
        name = cell(row, "NAME", "PIPE_NAME")
        definition = cell(row, "DEFINITION")
        if not name or not definition:
            report.add("bad_row", Severity.WARNING, "SHOW PIPES row without name or definition", f"{path}:{line}")
            continue
        database = cell(row, "DATABASE_NAME", "PIPE_CATALOG")
        schema = cell(row, "SCHEMA_NAME", "PIPE_SCHEMA")
        qualified = ".".join(f'"{p}"' for p in (database, schema, name) if p)
        yield QueryEvent(
            text=f"CREATE OR REPLACE PIPE {qualified} AS {definition}",
            dialect=Dialect.SNOWFLAKE, source=f"snowflake:{path.name}", location=f"{path}:{line}",
            default_database=database, default_schema=schema, namespace=namespace, calls=0,
        )


def _load_columns(source: SourceConfig, path: Path, catalog: Catalog, report: CollectReport) -> None:
    if source.kind is Dialect.POSTGRES:
        load_pg_columns(path, catalog, report)
    else:
        load_snowflake_columns(path, catalog, report)


def _guard(report: CollectReport, path: Path, action: Callable[[], object]) -> None:
    try:
        action()
    except InputError as err:
        report.add("missing_file", Severity.ERROR, str(err), str(path))


def _guarded_iter(report: CollectReport, path: Path, factory: Callable[[], Any]) -> Iterator[Any]:
    """Iterate a reader; a file that vanished or cannot be read is a diagnostic, not a crash."""
    try:
        yield from factory()
    except InputError as err:
        report.add("missing_file", Severity.ERROR, str(err), str(path))
    except OSError as err:
        report.add("unreadable_file", Severity.ERROR, f"cannot read {path}: {err.strerror or err}", str(path))


def _summary_diag(code: str, severity: Severity, message: str):
    from s3lineage.model import Diagnostic

    return Diagnostic(code, severity, message)
