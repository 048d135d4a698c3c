"""Statement → Resolution: split, parse, classify, pick a recognizer, run its handler.

Resolution never raises on a bad statement; it returns diagnostics with stable codes.
Results are cached by (statement cache key, session context), so a statement repeated
a million times in a log is resolved once.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Protocol

from s3lineage.model import (
    ColumnEdge,
    ColumnRef,
    DatasetRef,
    Diagnostic,
    Dialect,
    EdgeKind,
    QueryEvent,
    Resolution,
    Severity,
)
from s3lineage.resolve.builder import Builder
from s3lineage.resolve.catalogue import Recognizer, load_catalogue
from s3lineage.resolve.context import ResolveContext
from s3lineage.resolve.handlers import HANDLERS, Statement
from s3lineage.resolve.schema import OverlayCatalog, SchemaProvider
from s3lineage.resolve.shape import classify
from s3lineage.resolve.sqlglot_adapter import (
    DYNAMIC_NAME,
    ParsedStatement,
    exp,
    normalized_forms,
    parse_statement,
    split_statements,
)

MAX_STATEMENT_CHARS = 1_000_000
# Statement kinds that are never lineage; unrecognized ones of other kinds are reported
# only when the text hints at data movement, so logs full of BEGIN/SHOW stay quiet.
_LINEAGE_HINT = re.compile(r"s3a?://|\bcopy\b|@[~%\w\"]|\binsert\b|\bmerge\b|\bexport\b|\bimport\b",
                           re.IGNORECASE)
# DO [LANGUAGE x] $tag$ … $tag$: an anonymous PL/pgSQL block runs at once, and its body is
# logged verbatim, literals included.
_DO_BLOCK = re.compile(r"^\s*DO\s+(?:LANGUAGE\s+\w+\s+)?(\$\w*\$)(.*)\1\s*(?:LANGUAGE\s+\w+\s*)?$",
                       re.IGNORECASE | re.DOTALL)
_PLPGSQL_NOISE = re.compile(r"^\s*(?:DECLARE\b.*?\bBEGIN\b|BEGIN\b)\s*", re.IGNORECASE | re.DOTALL)
_RUNNABLE = re.compile(r"^\s*(?:SELECT|WITH|COPY|INSERT|CREATE|UPDATE|MERGE)\b", re.IGNORECASE)
_SET_CONFIG_PATH = re.compile(
    r"^\s*SELECT\s+(?:pg_catalog\.)?set_config\s*\(\s*'search_path'\s*,\s*'((?:[^']|'')*)'\s*,"
    r"\s*\w+\s*\)\s*;?\s*$", re.IGNORECASE | re.DOTALL)
_SEARCH_PATH = re.compile(r"^\s*SET\s+(?:SESSION\s+|LOCAL\s+)?search_path\s*(?:TO|=)\s*(.+?)\s*;?\s*$",
                          re.IGNORECASE | re.DOTALL)


class ResolutionCache(Protocol):
    """A persistent cache keyed by (statement cache key, stable context key)."""

    def get(self, key: tuple) -> Resolution | None: ...

    def put(self, key: tuple, resolution: Resolution) -> None: ...


@dataclass(frozen=True, slots=True)
class StatementResult:
    """One statement of a script with its resolution (for the developer view)."""

    text: str
    fingerprint: str
    resolution: Resolution


class Resolver:
    """Resolves statements with a recognizer catalogue and a bounded result cache.

    >>> r = Resolver()
    >>> ctx = ResolveContext.create("postgres", default_database="appdb")
    >>> res = r.resolve_text("COPY users TO PROGRAM 'aws s3 cp - s3://b/u.csv'", ctx)
    >>> res.recognizer, [o.display for o in res.outputs]
    ('postgres/copy_to_program', ['s3://b/u.csv'])
    """

    def __init__(
        self,
        recognizers: list[Recognizer] | None = None,
        *,
        idiom_dirs: tuple[Path, ...] = (),
        cache_size: int = 100_000,
        cache: ResolutionCache | None = None,
    ) -> None:
        self.recognizers = recognizers if recognizers is not None else load_catalogue(idiom_dirs)
        self.cache = cache  # a second-level, persistent cache (the state store's)
        self._cache: OrderedDict[tuple, Resolution] = OrderedDict()
        self._cache_size = cache_size
        self.cache_hits = 0
        self.cache_misses = 0

    # --- entry points ----------------------------------------------------------------

    def resolve_event(
        self,
        event: QueryEvent,
        catalog: SchemaProvider | None = None,
        temps: TempTables | None = None,
    ) -> Resolution:
        """Resolve a collected statement; ``temps`` carries its session's temp tables."""
        return self.resolve_event_fingerprinted(event, catalog, temps)[0]

    def resolve_event_fingerprinted(
        self,
        event: QueryEvent,
        catalog: SchemaProvider | None = None,
        temps: TempTables | None = None,
    ) -> tuple[Resolution, str]:
        """The resolution and the statement's fingerprint (its shape), computed once."""
        ctx = ResolveContext.create(
            event.dialect,
            namespace=event.namespace,
            default_database=event.default_database,
            default_schema=event.default_schema,
            search_path=event.search_path,
            catalog=catalog,
        )
        results = self.resolve_script(event.text, ctx, temps)
        prints = [r.fingerprint for r in results if r.fingerprint]
        fingerprint = prints[0] if len(prints) == 1 else "+".join(prints)[:200]
        return merge_results([r.resolution for r in results]), fingerprint

    def resolve_text(
        self, text: str | bytes, ctx: ResolveContext, temps: TempTables | None = None
    ) -> Resolution:
        """Resolve a statement or script; the result is the union over its statements."""
        return merge_results([r.resolution for r in self.resolve_script(text, ctx, temps)])

    def resolve_script(
        self, text: str | bytes, ctx: ResolveContext, temps: TempTables | None = None
    ) -> list[StatementResult]:
        pre: list[Diagnostic] = []
        if isinstance(text, bytes):
            decoded = text.decode("utf-8", errors="replace")
            if "\ufffd" in decoded:
                pre.append(_invalid_encoding())
            text = decoded
        elif "\ufffd" in text or _has_surrogates(text):
            pre.append(_invalid_encoding())
            text = text.encode("utf-8", errors="replace").decode("utf-8", errors="replace")
        if len(text) > MAX_STATEMENT_CHARS:
            return [StatementResult(text[:200], "", Resolution(None, confidence=0.0, diagnostics=(
                *pre,
                Diagnostic("statement_too_large", Severity.WARNING,
                           f"statement of {len(text):,} characters exceeds the "
                           f"{MAX_STATEMENT_CHARS:,}-character limit; not parsed"),
            )))]
        results: list[StatementResult] = []
        temps = temps if temps is not None else TempTables()
        session_only = False
        for piece in _expand_do_blocks(split_statements(text, ctx.dialect), ctx.dialect):
            ctx, handled = _apply_session_statement(piece, ctx)
            if handled:
                session_only = True
                continue
            result = self._resolve_one(piece, temps.context(ctx))
            results.append(replace(result, resolution=temps.apply(result.resolution)))
        if not results and session_only:
            # USE / SET search_path only: context for what follows, no lineage of their own
            results.append(StatementResult(text, "", Resolution(None)))
        elif not results:
            results.append(StatementResult(text, "", Resolution(None, confidence=0.0, diagnostics=(
                Diagnostic("empty_statement", Severity.INFO, "no SQL statement in the text"),))))
        if pre:
            first = results[0]
            results[0] = replace(first, resolution=replace(
                first.resolution, diagnostics=(*pre, *first.resolution.diagnostics)))
        return results

    # --- one statement ---------------------------------------------------------------

    def _resolve_one(self, text: str, ctx: ResolveContext) -> StatementResult:
        fingerprint, cache_key = normalized_forms(text, ctx.dialect)
        key = (cache_key, ctx.cache_key)
        cached = self._cache.get(key)
        if cached is not None:
            self._cache.move_to_end(key)
            self.cache_hits += 1
            return StatementResult(text, fingerprint, cached)
        resolution = self.cache.get(key) if self.cache is not None else None
        if resolution is not None:
            self.cache_hits += 1
            self._remember(key, resolution)
            return StatementResult(text, fingerprint, resolution)
        self.cache_misses += 1
        resolution = self._resolve_uncached(text, ctx)
        if self.cache is not None:
            self.cache.put(key, resolution)
        self._remember(key, resolution)
        return StatementResult(text, fingerprint, resolution)

    def _remember(self, key: tuple, resolution: Resolution) -> None:
        self._cache[key] = resolution
        if len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)

    def _resolve_uncached(self, text: str, ctx: ResolveContext) -> Resolution:
        parsed = parse_statement(text, ctx.dialect)
        if parsed.tree is None:
            return Resolution(None, confidence=0.0, diagnostics=(
                Diagnostic("parse_error", Severity.WARNING, f"could not parse: {parsed.error}"),))
        shape = classify(parsed.tree, text)
        recognizer = self.recognizer_for(ctx, shape, text)
        if recognizer is None:
            return _unrecognized(parsed, shape.statement)
        builder = Builder(ctx)
        try:
            HANDLERS[recognizer.handler](Statement(parsed, shape, ctx), builder)
        except Exception as err:  # noqa: BLE001 — one odd statement must not stop a run
            return Resolution(recognizer.id, confidence=0.0, diagnostics=(
                Diagnostic("handler_error", Severity.ERROR,
                           f"{recognizer.handler} failed on this statement: "
                           f"{type(err).__name__}: {str(err)[:200]}"),))
        resolution = builder.build(recognizer.id)
        return _without_dynamic_names(resolution)

    def recognizer_for(self, ctx: ResolveContext, shape, text: str) -> Recognizer | None:
        for recognizer in self.recognizers:
            if recognizer.matches(ctx.dialect, shape, text):
                return recognizer
        return None


class TempTables:
    """Session temp tables: their lineage is inlined into the statements that read them.

    ``CREATE TEMP TABLE t AS SELECT … FROM users; COPY t TO PROGRAM 'aws s3 cp - s3://…'``
    exports ``users``' columns; ``t`` itself is never a dataset. Used per script by the
    resolver and per session by the pipeline.
    """

    def __init__(self) -> None:
        self._defs: dict[DatasetRef, Resolution] = {}

    def __bool__(self) -> bool:
        return bool(self._defs)

    def context(self, ctx: ResolveContext) -> ResolveContext:
        """The context with the temp tables' columns visible to the catalog."""
        if not self._defs:
            return ctx
        tables = {}
        for ref, res in self._defs.items():
            fields = res.fields_of(ref)
            if fields:
                tables[tuple(ref.name.split("."))] = fields
        return replace(ctx, catalog=OverlayCatalog(ctx.catalog, tables)) if tables else ctx

    def apply(self, resolution: Resolution) -> Resolution:
        """Record a temp table's definition, or inline known temp tables into a statement."""
        if self._defs:
            resolution = self._inline(resolution)
            if any(ref in self._defs for ref in resolution.outputs):
                resolution = replace(resolution, temporary=True)  # INSERT INTO a temp table
        if resolution.temporary:
            for ref in resolution.outputs:
                known = self._defs.get(ref)
                self._defs[ref] = merge_results([known, resolution]) if known else resolution
            return replace(resolution, outputs=(), column_edges=(), output_fields=(), temporary=False)
        return resolution

    def _inline(self, res: Resolution) -> Resolution:
        if not any(ref in self._defs for ref in res.inputs):
            return res
        inputs: list[DatasetRef] = []
        for ref in res.inputs:
            for upstream in self._defs[ref].inputs if ref in self._defs else (ref,):
                if upstream not in inputs:
                    inputs.append(upstream)
        edges = []
        for edge in res.column_edges:
            sources: list[ColumnRef] = []
            transform = edge.transform
            for source in edge.sources:
                upstream_edges = self._upstream(source, edge.kind)
                for upstream in upstream_edges:
                    for ref in upstream.sources:
                        if ref not in sources:
                            sources.append(ref)
                    # identity through the temp table keeps what the temp table did
                    if transform == "identity" and upstream.transform != "identity":
                        transform = upstream.transform
            if sources:
                edges.append(ColumnEdge(edge.target, tuple(sources), edge.kind, transform))
        edges.extend(self._indirect_through(res))
        return replace(res, inputs=tuple(inputs), column_edges=tuple(dict.fromkeys(edges)))

    def _upstream(self, source: ColumnRef, kind: EdgeKind) -> list[ColumnEdge]:
        """The temp table's own edges into ``source`` (or ``source`` itself, as an edge)."""
        definition = self._defs.get(source.dataset)
        if definition is None:
            return [ColumnEdge(source, (source,), kind, "identity")]
        return [edge for edge in definition.column_edges
                if edge.target == source and (edge.kind is kind or kind is EdgeKind.INDIRECT)]

    def _indirect_through(self, res: Resolution) -> list[ColumnEdge]:
        """Rows a temp table kept because of its filters/joins: those keys stay indirect
        sources of what the statement reading it writes."""
        keys: list[ColumnRef] = []
        for ref in res.inputs:
            definition = self._defs.get(ref)
            for edge in definition.column_edges if definition else ():
                if edge.kind is EdgeKind.INDIRECT:
                    keys.extend(k for k in edge.sources if k not in keys)
        if not keys:
            return []
        targets = {e.target for e in res.column_edges if e.kind is EdgeKind.DIRECT}
        return [ColumnEdge(t, tuple(keys), EdgeKind.INDIRECT, "filter") for t in sorted(
            targets, key=lambda c: (c.dataset.name, c.column))]


def _expand_do_blocks(pieces: list[str], dialect: Dialect) -> list[str]:
    """Replace a ``DO $$ … $$`` block by the SQL statements its body runs
    (``PERFORM x`` is ``SELECT x`` whose result is discarded)."""
    if dialect is not Dialect.POSTGRES:
        return pieces
    expanded: list[str] = []
    for piece in pieces:
        match = _DO_BLOCK.match(piece)
        if not match:
            expanded.append(piece)
            continue
        for inner in split_statements(match.group(2), dialect):
            inner = _PLPGSQL_NOISE.sub("", inner, count=1)
            inner = re.sub(r"^\s*PERFORM\b", "SELECT", inner, flags=re.IGNORECASE)
            if _RUNNABLE.match(inner):
                expanded.append(inner.strip())
    return expanded


def _without_dynamic_names(res: Resolution) -> Resolution:
    """Drop tables named by a variable (``IDENTIFIER($t)``): unknown until run time."""
    def dynamic(ref: DatasetRef) -> bool:
        return DYNAMIC_NAME in ref.name.lower()

    if not any(dynamic(r) for r in (*res.inputs, *res.outputs)):
        return res
    return replace(
        res,
        inputs=tuple(r for r in res.inputs if not dynamic(r)),
        outputs=tuple(r for r in res.outputs if not dynamic(r)),
        column_edges=tuple(
            replace(e, sources=tuple(c for c in e.sources if not dynamic(c.dataset)))
            for e in res.column_edges
            if not dynamic(e.target.dataset) and any(not dynamic(c.dataset) for c in e.sources)
        ),
        output_fields=tuple((d, f) for d, f in res.output_fields if not dynamic(d)),
        diagnostics=(*res.diagnostics, Diagnostic(
            "dynamic_identifier", Severity.WARNING,
            "a table is named by a variable (IDENTIFIER($…)), only known at run time: it is left out")),
        confidence=round(max(0.0, res.confidence - 0.3), 3),
    )


def _unrecognized(parsed: ParsedStatement, kind: str) -> Resolution:
    if _LINEAGE_HINT.search(parsed.text):
        return Resolution(None, confidence=0.0, diagnostics=(
            Diagnostic("unsupported_statement", Severity.INFO,
                       f"no recognizer for this {kind} statement"),))
    return Resolution(None)


_TRANSACTION_CONTROL = re.compile(
    r"^\s*(?:BEGIN(?:\s+(?:TRANSACTION|WORK|ISOLATION|READ|NOT|DEFERRABLE)\b.*)?\s*;?\s*$"
    r"|START\s+TRANSACTION\b|COMMIT\b|END\s*;?\s*$|END\s+(?:TRANSACTION|WORK)\b|ROLLBACK\b|ABORT\b"
    r"|SAVEPOINT\b|RELEASE\b|SET\s+(?:SESSION\s+CHARACTERISTICS|TRANSACTION|LOCAL\s+TRANSACTION)\b)",
    re.IGNORECASE | re.DOTALL)


def is_transaction_control(text: str) -> bool:
    """BEGIN / COMMIT / SAVEPOINT …: no lineage, and some of them defeat the parser."""
    return bool(_TRANSACTION_CONTROL.match(text))


def _apply_session_statement(text: str, ctx: ResolveContext) -> tuple[ResolveContext, bool]:
    """USE … (Snowflake) and SET search_path (Postgres) change the context of what follows;
    transaction control (BEGIN, COMMIT, SAVEPOINT …) is passed over."""
    if is_transaction_control(text):
        return ctx, True
    head = text.lstrip()[:20].upper()
    if head.startswith("USE"):
        parsed = parse_statement(text, ctx.dialect)
        tree = parsed.tree
        if isinstance(tree, exp.Use) and isinstance(tree.this, exp.Table):
            kind = str(tree.args.get("kind") or "").upper()
            table = tree.this
            if kind in ("WAREHOUSE", "ROLE", "SECONDARY ROLES"):
                return ctx, True
            if kind == "SCHEMA":
                if table.args.get("db") is not None:
                    ctx = ctx.with_database(ctx.fold(table.args["db"]))
                return ctx.with_schema(ctx.fold(table.this)), True
            if table.args.get("db") is not None:  # USE db.schema
                return ctx.with_database(ctx.fold(table.args["db"])).with_schema(ctx.fold(table.this)), True
            return ctx.with_database(ctx.fold(table.this)).with_schema(None), True
        return ctx, True
    if head.startswith("SET"):
        match = _SEARCH_PATH.match(text)
        if match:
            path = tuple(_search_path_entries(match.group(1), ctx))
            return ctx.with_search_path(path), True
    if head.startswith("SELECT") and ctx.dialect is Dialect.POSTGRES:
        match = _SET_CONFIG_PATH.match(text)  # what pg_dump and many drivers send
        if match:
            path = tuple(_search_path_entries(match.group(1).replace("''", "'"), ctx))
            return ctx.with_search_path(path), True
    return ctx, False


def _search_path_entries(value: str, ctx: ResolveContext) -> list[str]:
    entries = []
    for raw in value.split(","):
        item = raw.strip()
        if item.startswith("'") and item.endswith("'"):
            item = item[1:-1]
        if item.startswith('"') and item.endswith('"'):
            entries.append(item[1:-1])
        elif item:
            entries.append(ctx.fold(item) or item)
    return entries


def merge_results(resolutions: list[Resolution]) -> Resolution:
    """Union of a script's statements (the developer view reports a script as one result)."""
    if len(resolutions) == 1:
        return resolutions[0]
    with_lineage = [r for r in resolutions if r.has_lineage] or resolutions
    ids = []
    for r in resolutions:
        for rid in (r.recognizer or "").split("+"):
            if rid and rid not in ids:
                ids.append(rid)

    def union(attr: str) -> tuple:
        seen: list = []
        for r in resolutions:
            for item in getattr(r, attr):
                if item not in seen:
                    seen.append(item)
        return tuple(seen)

    stage_urls = [r.stage_url for r in resolutions if r.stage_url]
    return Resolution(
        recognizer="+".join(ids) or None,
        inputs=union("inputs"),
        outputs=union("outputs"),
        column_edges=union("column_edges"),
        confidence=min(r.confidence for r in with_lineage),
        diagnostics=union("diagnostics"),
        read_filters=union("read_filters"),
        output_fields=union("output_fields"),
        stage_url=stage_urls[-1] if stage_urls else None,
        pipe=next((r.pipe for r in resolutions if r.pipe), None),
        file_format=next((r.file_format for r in resolutions if r.file_format), None),
    )


def _invalid_encoding() -> Diagnostic:
    return Diagnostic("invalid_encoding", Severity.WARNING,
                      "statement text is not valid UTF-8; undecodable bytes were replaced")


def _has_surrogates(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False
