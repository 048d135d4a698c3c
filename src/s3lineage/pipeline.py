"""collect → resolve → graph → check, for the sources a config names.

:func:`infer` streams every event once, resolves each distinct statement once (the
resolver's cache), and never stops on bad input: problems become diagnostics naming the
file and line. *What* is read is decided by an :class:`InputPolicy`: :class:`ReadAll` for
``--dry-run`` (every file, live sources from their default window), or the state store's
incremental policy for scheduled runs (only what is new; see :mod:`s3lineage.runner`).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from s3lineage.collect import CollectReport
from s3lineage.collect.live import Cursor, LiveSource
from s3lineage.collect.postgres_files import load_pg_columns, read_pg_stat_statements_csv
from s3lineage.collect.postgres_logs import read_postgres_log
from s3lineage.collect.snowflake_files import (
    CopyLoad,
    StageInfo,
    load_snowflake_columns,
    pipe_event_from_row,
    read_copy_history,
    read_query_history,
    read_stages,
)
from s3lineage.collect.tabular import read_rows
from s3lineage.config import Config, SourceConfig
from s3lineage.diagnostics import DiagnosticLog
from s3lineage.errors import InputError
from s3lineage.graph.build import GraphBuilder
from s3lineage.graph.checks import check_graph
from s3lineage.graph.fold import Folder
from s3lineage.graph.model import LineageGraph
from s3lineage.model import Diagnostic, Dialect, QueryEvent, Resolution, Severity
from s3lineage.resolve.resolver import Resolver, TempTables
from s3lineage.resolve.schema import Catalog
from s3lineage.resolve.sqlglot_adapter import normalized_forms

Progress = Callable[[str, int], None]


@dataclass(slots=True)
class InferenceResult:
    graph: LineageGraph
    diagnostics: DiagnosticLog
    stats: dict[str, Any] = field(default_factory=dict)
    run: Any = None  # the run's observations, for the state store (not exported)


class InputPolicy:
    """Decides what a run reads. This base reads everything (the dry-run policy)."""

    resumes_logs = False  # whether log files are read from a saved byte offset

    def file_changed(self, source: SourceConfig, path: Path) -> bool:
        return True

    def log_position(self, source: SourceConfig, path: Path) -> dict[str, Any]:
        """Where to resume reading a log file (the reader's position dict; {} = start)."""
        return {}

    def log_read(self, source: SourceConfig, path: Path, position: dict[str, Any]) -> None:
        """The log file was consumed up to ``position``."""

    def events(self, source: SourceConfig, path: Path, kind: str,
               events: Iterator[QueryEvent]) -> Iterator[QueryEvent]:
        """Filter re-read events (dedupe, pg_stat_statements deltas)."""
        return events

    def live_cursor(self, source: SourceConfig) -> Cursor:
        return {}

    @property
    def since(self) -> datetime | None:
        return None


ReadAll = InputPolicy

LiveFactory = Callable[[SourceConfig, CollectReport], LiveSource]


def open_live_source(source: SourceConfig, report: CollectReport) -> LiveSource:
    """The live source class for a config entry (imported lazily: optional extras)."""
    if source.kind is Dialect.POSTGRES:
        from s3lineage.collect.live_postgres import PostgresLiveSource

        return PostgresLiveSource(source, report)
    from s3lineage.collect.live_snowflake import SnowflakeLiveSource

    return SnowflakeLiveSource(source, report)


@dataclass(slots=True)
class _Run:
    """Mutable state of one inference run."""

    config: Config
    resolver: Resolver
    builder: GraphBuilder
    catalogs: dict[str, Catalog]
    policy: InputPolicy
    progress: Progress | None
    report: CollectReport = field(default_factory=CollectReport)
    diagnostics: DiagnosticLog = field(default_factory=DiagnosticLog)
    counts: dict[str, int] = field(default_factory=lambda: {
        "statements": 0, "lineage_statements": 0, "files_read": 0, "files_unchanged": 0})
    fingerprints: set[str] = field(default_factory=set)
    sessions: _Sessions = field(default_factory=lambda: _Sessions())
    new_stages: list[tuple[str, StageInfo]] = field(default_factory=list)
    new_loads: list[tuple[str, CopyLoad]] = field(default_factory=list)
    catalog_changes: set[str] = field(default_factory=set)


def infer(
    config: Config,
    progress: Progress | None = None,
    resolver: Resolver | None = None,
    *,
    policy: InputPolicy | None = None,
    builder: GraphBuilder | None = None,
    catalogs: dict[str, Catalog] | None = None,
    live_factory: LiveFactory = open_live_source,
    live_cursors: dict[str, Cursor] | None = None,
    read_sources: bool = True,
) -> InferenceResult:
    """Read the sources of ``config`` and build the checked lineage graph.

    ``builder``/``catalogs`` may come pre-filled from the state store; ``live_cursors``
    receives each live source's cursor after it was read; ``read_sources=False`` builds
    from what the builder already holds.
    """
    started = time.monotonic()
    catalogs = catalogs if catalogs is not None else {}
    run = _Run(
        config=config,
        resolver=resolver or Resolver(idiom_dirs=config.idiom_dirs),
        builder=builder or GraphBuilder(Folder(config.graph.fold_rules, config.graph.fold_partitions), catalogs),
        catalogs=catalogs,
        policy=policy or ReadAll(),
        progress=progress,
    )
    run.builder.catalogs = catalogs
    live: dict[str, LiveSource] = {}
    sources = config.sources if read_sources else ()
    try:
        for source in sources:
            run.catalogs.setdefault(source.namespace, Catalog())
            if source.is_live:
                live[source.name] = live_factory(source, run.report)
        for source in sources:  # catalogs and stage maps first: statements use them
            _read_metadata(run, source, live.get(source.name))
        for source in sources:
            cursor = run.policy.live_cursor(source) if source.name in live else None
            _read_statements(run, source, live.get(source.name), cursor)
            if cursor is not None and live_cursors is not None:
                live_cursors[source.name] = cursor
    finally:
        for source in live.values():
            source.close()
    return _finish(run, started)


def _finish(run: _Run, started: float) -> InferenceResult:
    graph = run.builder.build()
    run.diagnostics.extend(run.report.diagnostics)
    run.diagnostics.extend(run.builder.diagnostics)
    run.diagnostics.extend(check_graph(graph, run.catalogs))
    failed = run.report.counts.get("failed_statements", 0)
    if failed:
        run.diagnostics.add(Diagnostic(
            "failed_statements_skipped", Severity.INFO,
            f"{failed} statement(s) failed when they ran (ERROR / EXECUTION_STATUS != SUCCESS) "
            "and produced no lineage"))
    stats = {
        "sources": len(run.config.sources),
        "files_read": run.counts["files_read"],
        "files_unchanged": run.counts["files_unchanged"],
        "statements": run.counts["statements"],
        "lineage_statements": run.counts["lineage_statements"],
        "unique_fingerprints": len(run.fingerprints),
        "resolved": run.resolver.cache_misses,
        "cache_hits": run.resolver.cache_hits,
        "failed_statements": failed,
        "skipped_statements": run.report.counts.get("skipped_statements", 0),
        "datasets": graph.g.number_of_nodes(),
        "edges": graph.g.number_of_edges(),
        "seconds": round(time.monotonic() - started, 3),
    }
    return InferenceResult(graph, run.diagnostics, stats, run)


# --- metadata: catalogs and stages ----------------------------------------------------------


def _read_metadata(run: _Run, source: SourceConfig, live: LiveSource | None) -> None:
    catalog = run.catalogs[source.namespace]
    if live is not None:
        live.load_catalog(catalog)
        run.catalog_changes.add(source.namespace)
        for stage in live.stages():
            _add_stage(run, source, stage)
    for path in source.paths("columns_file"):
        if not _changed(run, source, path):
            continue
        _guard(run.report, path, lambda p=path: _load_columns(source, p, catalog, run.report))
        run.catalog_changes.add(source.namespace)
    for path in source.paths("stages_file"):
        if not _changed(run, source, path):
            continue
        for stage in _guarded_iter(run.report, path, lambda p=path: read_stages(p, report=run.report)):
            _add_stage(run, source, stage)


def _add_stage(run: _Run, source: SourceConfig, stage: StageInfo) -> None:
    run.builder.add_stage(source.namespace, stage.qualified_name, stage.url)
    run.new_stages.append((source.namespace, stage))


def _changed(run: _Run, source: SourceConfig, path: Path) -> bool:
    if run.policy.file_changed(source, path):
        run.counts["files_read"] += 1
        return True
    run.counts["files_unchanged"] += 1
    return False


# --- statements and loads ------------------------------------------------------------------


def _read_statements(run: _Run, source: SourceConfig, live: LiveSource | None, cursor: Cursor | None) -> None:
    catalog = run.catalogs[source.namespace]
    logged_query_ids = _LoggedStatements()
    if live is not None and cursor is not None:
        label = Path(f"<{source.name}>")
        pipes = getattr(live, "pipes", None)  # Snowflake: definitions of Snowpipe's COPYs
        if pipes is not None:
            _consume(run, source, catalog, label, pipes(), logged_query_ids)
        _consume(run, source, catalog, label, live.events(cursor, since=run.policy.since), logged_query_ids)
        for load in live.copy_loads(cursor, since=run.policy.since):
            _add_load(run, source, load)
    for path, kind, events in _event_streams(run, source, logged_query_ids):
        if not _changed(run, source, path):
            continue
        filtered = run.policy.events(source, path, kind, events)
        _consume(run, source, catalog, path, filtered, logged_query_ids)
    for path in source.paths("copy_history_file"):
        if not _changed(run, source, path):
            continue
        for load in _guarded_iter(run.report, path, lambda p=path: read_copy_history(p, report=run.report)):
            _add_load(run, source, load)


def _add_load(run: _Run, source: SourceConfig, load: CopyLoad) -> None:
    if run.builder.add_copy_load(source.namespace, load):
        run.new_loads.append((source.namespace, load))


def _consume(run: _Run, source: SourceConfig, catalog: Catalog, path: Path,
             events: Iterable[QueryEvent], logged_query_ids: _LoggedStatements) -> None:
    since = run.policy.since
    for event in _guarded_iter(run.report, path, lambda: events):
        if since is not None and event.time is not None and event.time < since:
            continue
        if event.source.startswith("pg_stat_statements:") and logged_query_ids.seen(event.query_id, event.text):
            logged_query_ids.attribute_rows(run.builder, event)  # the log gave its runs
            continue
        run.counts["statements"] += 1
        resolution, fingerprint = run.resolver.resolve_event_fingerprinted(
            event, catalog, run.sessions.temps_for(event))
        if event.source.startswith("postgres:"):  # from a log file
            logged_query_ids.add(event.query_id, fingerprint, resolution)
        if fingerprint:
            run.fingerprints.add(fingerprint)
        run.diagnostics.extend(resolution.diagnostics, event.where)
        if resolution.outputs or resolution.stage_url:
            run.counts["lineage_statements"] += 1
            run.builder.add_statement(event, resolution, fingerprint)
        if run.progress and run.counts["statements"] % 500 == 0:
            run.progress(path.name, run.counts["statements"])


class _LoggedStatements:
    """Statements the server log gave this run, so pg_stat_statements rows for the same
    statements are not counted twice: matched by query id (``%Q`` / csvlog / jsonlog) or,
    without one, by the normalized shape (pgss keeps ``$n`` where the log has literals)."""

    def __init__(self) -> None:
        self.query_ids: set[str] = set()
        self.fingerprints: set[str] = set()
        # which lineage statements the log gave under each key, for pgss's row counts
        self._lineage: dict[str, list[Resolution]] = {}

    def add(self, query_id: str | None, fingerprint: str, resolution: Resolution | None = None) -> None:
        for key in (f"q:{query_id}" if query_id else "", f"f:{fingerprint}" if fingerprint else ""):
            if not key:
                continue
            (self.query_ids if key.startswith("q:") else self.fingerprints).add(key[2:])
            if resolution is not None and resolution.outputs:
                known = self._lineage.setdefault(key, [])
                if resolution not in known:
                    known.append(resolution)

    def attribute_rows(self, builder: GraphBuilder, event: QueryEvent) -> None:
        """pg_stat_statements' rows of statements the log gave (logs report no row counts),
        shared out by how often each logged statement ran."""
        if not event.rows:
            return
        targets = self._lineage.get(f"q:{event.query_id}") if event.query_id else None
        if not targets:
            targets = self._lineage.get(f"f:{normalized_forms(event.text, Dialect.POSTGRES)[0]}")
        if targets:
            builder.add_rows(targets, event.rows)

    def __contains__(self, query_id: object) -> bool:
        return query_id in self.query_ids

    def seen(self, query_id: str | None, text: str) -> bool:
        if query_id and query_id in self.query_ids:
            return True
        return bool(self.fingerprints) and normalized_forms(text, Dialect.POSTGRES)[0] in self.fingerprints


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
    run: _Run, source: SourceConfig, logged_query_ids: _LoggedStatements
) -> Iterator[tuple[Path, str, Iterator[QueryEvent]]]:
    """Per file, its events. Logs come before pg_stat_statements so that statements the
    log already recorded (same queryid) are not counted twice."""
    report = run.report
    if source.kind is Dialect.POSTGRES:
        # A live Postgres source reads its server's log files itself (with its cursor).
        log_files = () if source.is_live else source.paths("log_files")
        newest = max(log_files, key=_mtime, default=None)
        for path in log_files:
            yield path, "log", _log_events(run, source, path, growing=path == newest)
        for path in source.paths("statements_file"):
            yield path, "pg_stat_statements", _lazy(lambda p=path: read_pg_stat_statements_csv(
                p, namespace=source.namespace, default_database=source.database, report=report,
                logged_query_ids=logged_query_ids))
    else:
        for path in source.paths("query_history_file"):
            yield path, "query_history", _lazy(
                lambda p=path: read_query_history(p, namespace=source.namespace, report=report))
        for path in source.paths("pipes_file"):
            yield path, "pipes", _lazy(lambda p=path: _pipe_definitions(p, source.namespace, report))


def _log_events(run: _Run, source: SourceConfig, path: Path, *, growing: bool) -> Iterator[QueryEvent]:
    """A log file's events; scheduled runs resume where the last one stopped and leave a
    half-written tail of the newest file for next time."""
    if not run.policy.resumes_logs:
        yield from read_postgres_log(
            path, namespace=source.namespace, default_database=source.database,
            log_line_prefix=source.log_line_prefix, report=run.report)
        return
    position = dict(run.policy.log_position(source, path))
    yield from read_postgres_log(
        path, namespace=source.namespace, default_database=source.database,
        log_line_prefix=source.log_line_prefix, report=run.report,
        start_offset=int(position.get("offset", 0)), position=position, growing=growing)
    run.policy.log_read(source, path, position)


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


def _lazy(factory: Callable[[], Iterator[QueryEvent]]) -> Iterator[QueryEvent]:
    yield from factory()


def _pipe_definitions(path: Path, namespace: str, report: CollectReport) -> Iterator[QueryEvent]:
    """SHOW PIPES export: each definition becomes a CREATE PIPE statement to resolve."""
    for line, row in read_rows(path, report):
        event = pipe_event_from_row(row, source=f"snowflake:{path.name}", location=f"{path}:{line}",
                                    namespace=namespace, report=report)
        if event is not None:
            yield event


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
