"""Scheduled, incremental inference runs backed by the state store.

``s3lineage infer`` (without ``--dry-run``) and :func:`run` for orchestrators:

1. take the state lock (one run at a time), record the run as *running*;
2. load what earlier runs learned (statement groups, loads, stages, catalogs);
3. read only what is new: unchanged files are skipped, logs resume at their byte
   offset, re-exported histories are deduplicated on QUERY_ID, pg_stat_statements
   snapshots become call deltas, live sources read from their cursors;
4. rebuild and check the graph from all groups, mark edges stale past retention;
5. write everything, cursors included, in **one** transaction.

A run killed before step 5 changes nothing but its *running* row (marked interrupted by
the next run), so the next run reads the same input again: nothing lost, nothing doubled.
"""

from __future__ import annotations

import json
import os
from array import array
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from s3lineage.audit import hooks as audit_hooks
from s3lineage.collect.live import Cursor
from s3lineage.config import Config, SourceConfig, load_config
from s3lineage.export.formats import edge_json
from s3lineage.graph.build import GraphBuilder, StatementGroup
from s3lineage.graph.fold import Folder
from s3lineage.graph.model import LineageGraph
from s3lineage.model import QueryEvent
from s3lineage.pipeline import (
    InferenceResult,
    InputPolicy,
    LiveFactory,
    Progress,
    infer,
    open_live_source,
)
from s3lineage.resolve.resolver import Resolver
from s3lineage.resolve.schema import Catalog
from s3lineage.state import serialize as ser
from s3lineage.state.store import StateLock, StateStore, utcnow


@dataclass(slots=True)
class RunReport:
    """What a run did; returned by :func:`run` and printed by the CLI."""

    run_id: int | None
    outcome: str  # ok | dry_run
    started_at: datetime
    ended_at: datetime
    stats: dict[str, Any]
    new_edges: list[str] = field(default_factory=list)
    changed_edges: list[str] = field(default_factory=list)
    stale_edges: list[str] = field(default_factory=list)
    restored_edges: list[str] = field(default_factory=list)
    result: InferenceResult | None = None
    publish: Any = None  # the Atlan PublishReport when [atlan] publishes after inferring

    @property
    def diagnostics(self):
        return self.result.diagnostics if self.result else None


def run(
    config: str | Path | Config,
    *,
    dry_run: bool = False,
    full_refresh: bool = False,
    since: datetime | None = None,
    progress: Progress | None = None,
    live_factory: LiveFactory = open_live_source,
    before_commit: Callable[[], None] | None = None,
    read_sources: bool = True,
    publish: bool = True,
) -> RunReport:
    """Run inference once, as a scheduler would.

    ``read_sources=False`` rebuilds, checks and saves the graph from the state alone
    (after S3 events changed what is known about objects, say) without reading a source.
    With an ``[atlan]`` section a scheduled run then publishes (``publish=False`` skips it).

    >>> report = run("fixtures/demo/lineage.toml", dry_run=True)  # doctest: +SKIP
    >>> report.stats["edges"]  # doctest: +SKIP
    20
    """
    cfg = config if isinstance(config, Config) else load_config(config)
    started = utcnow()
    if dry_run:
        result = infer(
            cfg,
            progress=progress,
            live_factory=live_factory,
            policy=_SinceOnly(since) if since else None,
        )
        _enrich(cfg, result, None)
        return RunReport(None, "dry_run", started, utcnow(), result.stats, result=result)
    state = cfg.state or _default_state(cfg)
    with StateLock(state.path, state.lock_timeout_seconds):
        store = StateStore(state.path)
        try:
            return _scheduled_run(
                cfg,
                store,
                started,
                full_refresh=full_refresh,
                since=since,
                progress=progress,
                live_factory=live_factory,
                before_commit=before_commit,
                read_sources=read_sources,
                publish_enabled=publish,
            )
        finally:
            store.close()


def graph_from_state(cfg: Config, store: StateStore) -> InferenceResult:
    """The graph as the last scheduled runs left it, rebuilt without reading any source or
    writing anything (what ``publish``, ``report`` and friends show)."""
    catalogs = _load_catalogs(store)
    builder = GraphBuilder(Folder(cfg.graph.fold_rules, cfg.graph.fold_partitions), catalogs)
    _load_observations(store, builder)
    result = infer(cfg, builder=builder, catalogs=catalogs, read_sources=False)
    _enrich(cfg, result, store, scan=False)
    return result


def _enrich(cfg: Config, result: InferenceResult, store: StateStore | None, *, scan: bool = True) -> None:
    """What S3 itself says (objects, file schemas, freshness) joins the graph's S3 layer.
    ``scan=False``: only the stored inventory (no listing, no writes)."""
    if "s3" not in cfg.sections:
        return
    from s3lineage.discover.enrich import enrich_graph

    result.diagnostics.extend(enrich_graph(result.graph, cfg, store, scan_buckets=scan))


def _default_state(cfg: Config):
    from s3lineage.config import StateConfig

    return StateConfig(path=cfg.path.resolve().parent / ".s3lineage" / "state.db")


def _scheduled_run(
    cfg: Config,
    store: StateStore,
    started: datetime,
    *,
    full_refresh: bool,
    since: datetime | None,
    progress,
    live_factory,
    before_commit,
    read_sources: bool = True,
    publish_enabled: bool = True,
) -> RunReport:
    retention = timedelta(days=(cfg.state.retention_days if cfg.state else 30.0))
    run_id = store.start_run(full_refresh)
    if full_refresh:
        _forget_observations(store)
    catalogs = _load_catalogs(store)
    builder = GraphBuilder(Folder(cfg.graph.fold_rules, cfg.graph.fold_partitions), catalogs)
    _load_observations(store, builder)
    recorder = audit_hooks.attach(builder, store)  # one SQL text per new statement, edge history
    policy = IncrementalPolicy(store, since)
    resolver = Resolver(idiom_dirs=cfg.idiom_dirs, cache=StoreCache(store))
    live_cursors: dict[str, Cursor] = {}
    result = infer(
        cfg,
        progress=progress,
        resolver=resolver,
        policy=policy,
        builder=builder,
        catalogs=catalogs,
        live_factory=live_factory,
        live_cursors=live_cursors,
        read_sources=read_sources,
    )
    _enrich(cfg, result, store)
    now = utcnow()
    changes = _edge_changes(store.edges(), result.graph, run_id, now, retention)
    if before_commit is not None:
        before_commit()  # tests inject a crash here
    with store.transaction():
        _save(store, cfg, result, builder, catalogs, policy, live_cursors, run_id, changes)
        recorder.save(run_id)
        stats = {k: v for k, v in result.stats.items()}
        stats.update(
            {
                "new_edges": len(changes.new),
                "changed_edges": len(changes.changed),
                "stale_edges": len(changes.stale),
                "restored_edges": len(changes.restored),
            }
        )
        store.finish_run(run_id, "ok", stats)
    # Publish after the commit: a publish that fails leaves the inferred state in place,
    # and the next run republishes (publishing is idempotent).
    publish_report = None
    atlan = cfg.sections.get("atlan")
    if atlan is not None and atlan.publish_on_infer and publish_enabled:
        from s3lineage.publish import publish

        publish_report = publish(cfg, result.graph, store)
    return RunReport(
        run_id,
        "ok",
        started,
        utcnow(),
        stats,
        changes.new,
        changes.changed,
        changes.stale,
        changes.restored,
        result,
        publish_report,
    )


# --- what to read ---------------------------------------------------------------------------


class _SinceOnly(InputPolicy):
    def __init__(self, since: datetime | None) -> None:
        self._since = since

    @property
    def since(self) -> datetime | None:
        return self._since


class IncrementalPolicy(InputPolicy):
    """Reads only what earlier runs did not: per-file signatures and offsets, dedupe."""

    resumes_logs = True

    def __init__(self, store: StateStore, since: datetime | None) -> None:
        self.store = store
        self._since = since
        self.files: dict[str, dict[str, Any]] = store.cursor("files")
        self.pending_seen: dict[str, set[str]] = {}
        self.live: dict[str, Cursor] = {}

    @property
    def since(self) -> datetime | None:
        return self._since

    @staticmethod
    def _signature(path: Path) -> dict[str, int]:
        st = os.stat(path)
        return {"inode": st.st_ino, "size": st.st_size, "mtime_ns": st.st_mtime_ns}

    def file_changed(self, source: SourceConfig, path: Path) -> bool:
        try:
            signature = self._signature(path)
        except OSError:
            return True  # let the reader report it
        previous = self.files.get(str(path), {})
        if all(previous.get(k) == v for k, v in signature.items()):
            return False
        entry = dict(previous)
        offset = int(previous.get("position", {}).get("offset", 0))
        if previous.get("inode") != signature["inode"] or signature["size"] < offset:
            for key in ("position", "pgss", "pgss_rows"):  # rotated or truncated: start over
                entry.pop(key, None)
        self.files[str(path)] = entry | signature | {"pending": True}
        return True

    def live_cursor(self, source: SourceConfig) -> Cursor:
        # a copy: the saved cursor only changes when the run commits
        return json.loads(json.dumps(self.store.cursor(f"live:{source.name}")))

    def log_position(self, source: SourceConfig, path: Path) -> dict[str, Any]:
        return dict(self.files.get(str(path), {}).get("position", {}))

    def log_read(self, source: SourceConfig, path: Path, position: dict[str, Any]) -> None:
        self.files.setdefault(str(path), {})["position"] = position

    def events(
        self, source: SourceConfig, path: Path, kind: str, events: Iterator[QueryEvent]
    ) -> Iterator[QueryEvent]:
        if kind == "query_history":
            return self._dedupe(source, events)
        if kind == "pg_stat_statements":
            return self._deltas(path, events)
        return events

    def _dedupe(self, source: SourceConfig, events: Iterator[QueryEvent]) -> Iterator[QueryEvent]:
        """A re-exported QUERY_HISTORY overlaps the last one: skip QUERY_IDs already used."""
        pending = self.pending_seen.setdefault(source.name, set())
        batch: list[QueryEvent] = []
        for event in events:
            batch.append(event)
            if len(batch) >= 500:
                yield from self._unseen(source.name, batch, pending)
                batch = []
        yield from self._unseen(source.name, batch, pending)

    def _unseen(
        self, name: str, batch: list[QueryEvent], pending: set[str]
    ) -> Iterator[QueryEvent]:
        ids = [e.query_id for e in batch if e.query_id]
        known = self.store.seen(name, ids) if ids else set()
        for event in batch:
            if event.query_id and (event.query_id in known or event.query_id in pending):
                continue
            if event.query_id:
                pending.add(event.query_id)
            yield event

    def _deltas(self, path: Path, events: Iterator[QueryEvent]) -> Iterator[QueryEvent]:
        """pg_stat_statements rows are cumulative: emit only calls added since the last run."""
        entry = self.files.setdefault(str(path), {})
        snapshot: dict[str, int] = dict(entry.get("pgss", {}))
        rows_snapshot: dict[str, int] = dict(entry.get("pgss_rows", {}))
        for event in events:
            key = f"{event.user}:{event.default_database}:{event.query_id or event.text[:200]}"
            before = snapshot.get(key, 0)
            # fewer calls than last time: the statistics were reset, so all of them are new
            delta = event.calls - before if event.calls >= before else event.calls
            rows_before = rows_snapshot.get(key, 0)
            rows = event.rows
            if rows is not None:
                rows = rows - rows_before if event.calls >= before and rows >= rows_before else rows
                rows_snapshot[key] = event.rows
            snapshot[key] = event.calls
            if delta > 0:
                yield replace(event, calls=delta, rows=rows)
        entry["pgss"] = snapshot
        entry["pgss_rows"] = rows_snapshot


class StoreCache:
    """The resolver's cache backed by the state store (writes held until commit)."""

    def __init__(self, store: StateStore) -> None:
        self.store = store
        self.pending: dict[str, str] = {}

    @staticmethod
    def _key(key: tuple) -> str:
        return ser.dumps([str(part) for part in key])

    def get(self, key: tuple):
        text = self._key(key)
        data = self.pending.get(text) or self.store.resolution(text)
        return ser.resolution_from_dict(json.loads(data)) if data else None

    def put(self, key: tuple, resolution) -> None:
        self.pending[self._key(key)] = ser.dumps(ser.resolution_to_dict(resolution))


# --- loading and saving state ------------------------------------------------------------------


def _forget_observations(store: StateStore) -> None:
    with store.transaction():
        for table in ("groups", "copy_loads", "seen", "cursors", "resolutions", "catalog"):
            store.db.execute(f"DELETE FROM {table}")
        store.db.execute("DELETE FROM stages")


def _load_catalogs(store: StateStore) -> dict[str, Catalog]:
    catalogs: dict[str, Catalog] = {}
    for namespace, table, columns in store.catalog():
        catalogs.setdefault(namespace, Catalog()).add_table(
            tuple(json.loads(table)), json.loads(columns)
        )
    return catalogs


def _load_observations(store: StateStore, builder: GraphBuilder) -> None:
    for _key, resolution, evidence, location, times, _last in store.groups():
        group = StatementGroup(
            ser.resolution_from_dict(json.loads(resolution)),
            ser.evidence_from_dict(json.loads(evidence)),
            location or "",
            array("d", json.loads(times)) if times else None,
        )
        builder.add_group(group)
    for namespace, name, url, listed, defined_at in store.stages():
        if listed:
            builder.add_stage(namespace, name, url)
        else:
            builder.stages.add_definition(
                namespace, name, url, datetime.fromisoformat(defined_at) if defined_at else None
            )
    for namespace, load in store.copy_loads():
        builder.add_copy_load(namespace, ser.copy_load_from_dict(json.loads(load)))


def _save(store, cfg, result, builder, catalogs, policy, live_cursors, run_id, changes) -> None:
    observed = result.run
    for group in builder.groups():
        if not group.dirty:
            continue
        res = group.resolution
        store.save_group(
            ser.resolution_key(res),
            res.outputs[0].namespace if res.outputs else "",
            ser.dumps(ser.resolution_to_dict(res)),
            ser.dumps(ser.evidence_to_dict(group.evidence)),
            group.where,
            ser.dumps(list(group.times)) if group.times is not None else None,
            group.evidence.last_seen.isoformat() if group.evidence.last_seen else None,
            run_id,
        )
    for namespace, load in observed.new_loads:
        store.save_copy_load(
            ser.copy_load_key(load), namespace, ser.dumps(ser.copy_load_to_dict(load))
        )
    for namespace, stage in observed.new_stages:
        store.save_stage(namespace, stage.qualified_name, stage.url, listed=True)
    for namespace, name, url, when in builder.new_stage_definitions:
        store.save_stage(
            namespace, name, url, listed=False, defined_at=when.isoformat() if when else ""
        )
    for namespace in observed.catalog_changes:
        for table in catalogs[namespace].tables():
            store.save_catalog_table(namespace, table, catalogs[namespace].columns(table) or ())
    for key, data in (
        result.run.resolver.cache.pending.items()
        if isinstance(result.run.resolver.cache, StoreCache)
        else ()
    ):
        store.save_resolution(key, data)
    for name, ids in policy.pending_seen.items():
        store.add_seen(name, sorted(ids))
    for entry in policy.files.values():
        entry.pop("pending", None)
    store.save_cursor("files", policy.files)
    for name, cursor in live_cursors.items():
        store.save_cursor(f"live:{name}", cursor)
    for row in changes.rows:
        store.save_edge(row)
    for node in result.graph.datasets():
        store.save_dataset(
            node.id,
            ser.dumps({"name": node.ref.name, "kind": node.ref.kind.value, "fields": node.fields}),
        )


@dataclass(slots=True)
class _Changes:
    rows: list[dict[str, Any]] = field(default_factory=list)
    new: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    stale: list[str] = field(default_factory=list)
    restored: list[str] = field(default_factory=list)


def _edge_changes(
    stored: dict[str, dict[str, Any]],
    graph: LineageGraph,
    run_id: int,
    now: datetime,
    retention: timedelta,
) -> _Changes:
    """Compare the rebuilt graph with the stored edges; only changed rows are written.

    An edge is *observed* by a run that brought it new evidence (its data changed); one
    not observed for ``retention`` is marked stale — never deleted — and restored when
    evidence arrives again.
    """
    changes = _Changes()
    seen_ids = set()
    for edge in graph.edges():
        data = edge_json(edge)
        edge_id = data["id"]
        seen_ids.add(edge_id)
        text = ser.dumps(data)
        previous = stored.get(edge_id)
        observed_now = previous is None or previous["data"] != text
        last_observed = now if observed_now else datetime.fromisoformat(previous["last_observed"])
        status = "stale" if now - last_observed > retention else "active"
        if previous is None:
            changes.new.append(edge_id)
        elif not observed_now and previous["status"] == status:
            continue
        elif previous["status"] != status:
            (changes.stale if status == "stale" else changes.restored).append(edge_id)
        else:
            changes.changed.append(edge_id)
        was_stale = previous is not None and previous["status"] == "stale"
        changes.rows.append(
            {
                "id": edge_id,
                "source": edge.source,
                "target": edge.target,
                "kind": edge.kind,
                "data": text,
                "status": status,
                "first_run": previous["first_run"] if previous else run_id,
                "last_changed_run": run_id,
                "last_observed": last_observed.isoformat(),
                "stale_since": None
                if status == "active"
                else (
                    previous["stale_since"]
                    if was_stale and previous["stale_since"]
                    else now.isoformat()
                ),
            }
        )
    for edge_id, previous in stored.items():
        if edge_id not in seen_ids and previous["status"] != "stale":
            # no longer inferred at all (e.g. after --full-refresh): kept, marked stale
            changes.stale.append(edge_id)
            changes.rows.append(
                previous
                | {"status": "stale", "last_changed_run": run_id, "stale_since": now.isoformat()}
            )
    return changes
