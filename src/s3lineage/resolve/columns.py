"""Column lineage of a query: which source columns feed each output column.

We qualify the query once (expanding stars where the catalog knows the columns), build
sqlglot's scope tree, and walk each projection down through CTEs, derived tables,
unions and scalar subqueries to physical tables. Columns used only to filter, join,
group or partition rows are collected separately as *indirect* sources.

Queries over a Snowflake stage (``SELECT $1, $2:field FROM @stage``) have no columns,
only file fields; :func:`trace_stage_select` handles those.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from s3lineage.model import ColumnRef, DatasetKind, DatasetRef, Dialect
from s3lineage.naming import parse_stage_path, qualify_stage, s3_ref, stage_ref
from s3lineage.resolve.context import ResolveContext
from s3lineage.resolve.schema import OverlayCatalog
from s3lineage.resolve.sqlglot_adapter import (
    Scope,
    exp,
    make_schema,
    qualify_query,
    scope_of,
    sql_of,
)

_PAD = "__default__"
MAX_TRACE_NODES = 10_000  # placeholder for a missing db/schema part (sqlglot wants equal depth)


@dataclass(slots=True)
class Projection:
    name: str
    sources: set[ColumnRef] = field(default_factory=set)
    transform: str = "identity"


@dataclass(slots=True)
class QueryLineage:
    """What a query reads and how each output column is made."""

    inputs: list[DatasetRef] = field(default_factory=list)
    projections: list[Projection] = field(default_factory=list)
    indirect: set[ColumnRef] = field(default_factory=set)
    # False when some output columns could not be listed (star over an unknown table)
    complete: bool = True
    problems: list[tuple[str, str]] = field(default_factory=list)  # (code, message)
    internal_stages: list[str] = field(default_factory=list)

    @property
    def output_names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.projections)


# --- reference resolution ------------------------------------------------------------


@dataclass(slots=True)
class _Refs:
    """Physical tables and stages the query mentions, keyed by their (padded) AST name."""

    by_key: dict[tuple[str, str, str], DatasetRef] = field(default_factory=dict)
    columns: dict[tuple[str, ...], tuple[str, ...]] = field(default_factory=dict)
    inputs: list[DatasetRef] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    internal_stages: list[str] = field(default_factory=list)

    def add_input(self, ref: DatasetRef) -> None:
        if ref not in self.inputs:
            self.inputs.append(ref)


def _cte_names(tree: exp.Expr) -> set[str]:
    return {cte.alias_or_name.lower() for cte in tree.find_all(exp.CTE)}


def stage_or_s3_of(node: exp.Expr, ctx: ResolveContext) -> DatasetRef | str | None:
    """A stage/S3 reference written where a table would be (``@stg/p``, ``'s3://…'``).

    Returns the dataset, the string ``"internal"`` for @~ / @%table, or None.
    """
    text: str | None = None
    if isinstance(node, exp.Table) and isinstance(node.this, (exp.Var, exp.Literal)):
        text = node.this.name
    elif isinstance(node, (exp.Var, exp.Literal)):
        text = node.name
    if not text:
        return None
    if text.startswith("@"):
        stage = parse_stage_path(text, ctx.dialect)
        if stage is None:
            return None
        if stage.kind != "named":
            return "internal"
        parts = qualify_stage(stage, ctx.default_database, ctx.default_schema)
        return stage_ref(ctx.namespace, parts, stage.path)
    return s3_ref(text)


def _register_tables(tree: exp.Expr, ctx: ResolveContext) -> _Refs:
    refs = _Refs()
    ctes = _cte_names(tree)
    for table in list(tree.find_all(exp.Table)):
        if isinstance(table.this, (exp.Var, exp.Literal)):
            located = stage_or_s3_of(table, ctx)
            key = (_PAD, _PAD, f"__stage_{len(refs.by_key)}")
            if located == "internal":
                refs.internal_stages.append(table.this.name)
            elif located is not None:
                refs.add_input(located)
                refs.by_key[key] = located
            _rename(table, key)
            continue
        if not isinstance(table.this, exp.Identifier):
            continue  # table function such as generate_series(): no dataset
        if not table.args.get("db") and table.name.lower() in ctes:
            continue
        parts = ctx.table_parts(table)
        padded = tuple([_PAD] * (3 - len(parts)) + list(parts))[-3:]
        ref = ctx.table_ref(parts)
        refs.by_key[padded] = ref  # type: ignore[index]
        refs.add_input(ref)
        cols = ctx.columns_of(parts)
        if cols is not None:
            refs.columns[padded] = cols
        elif _has_catalog(ctx) and not _is_system_schema(parts):
            refs.missing.append(ref.name)
        _rename(table, padded)
    return refs


def _has_catalog(ctx: ResolveContext) -> bool:
    """A real catalog is known (not just a script's temp tables)."""
    catalog = ctx.catalog
    if isinstance(catalog, OverlayCatalog):
        return catalog.base is not None
    return catalog is not None


def _is_system_schema(parts: tuple[str, ...]) -> bool:
    return len(parts) >= 2 and parts[-2].lower() in ("pg_catalog", "information_schema")


def _rename(table: exp.Table, parts: tuple[str, ...]) -> None:
    catalog, db, name = parts
    alias = table.args.get("alias")
    if alias is None:
        # keep the original name usable as a qualifier (users.id) after renaming
        original = table.this.name if isinstance(table.this, exp.Identifier) else None
        if original and not name.startswith("__stage_"):
            table.set("alias", exp.TableAlias(this=exp.to_identifier(original, quoted=True)))
        elif name.startswith("__stage_"):
            table.set("alias", exp.TableAlias(this=exp.to_identifier(name, quoted=True)))
    table.set("this", exp.to_identifier(name, quoted=True))
    table.set("db", exp.to_identifier(db, quoted=True))
    table.set("catalog", exp.to_identifier(catalog, quoted=True))
    for key in ("format", "pattern"):
        table.set(key, None)


def _key_of(table: exp.Table) -> tuple[str, str, str]:
    return (table.catalog, table.db, table.name)


# --- tracing ------------------------------------------------------------------------


class _Tracer:
    def __init__(self, refs: _Refs, ctx: ResolveContext) -> None:
        self.refs = refs
        self.ctx = ctx
        self.unresolved: set[str] = set()
        self._active: set[tuple[int, str]] = set()  # (scope, column) being traced: no cycles

    def by_index(self, scope: Scope, index: int) -> tuple[set[ColumnRef], str]:
        expression = scope.expression
        if isinstance(expression, exp.SetOperation):
            left, right = scope.set_operation_scopes[0], scope.set_operation_scopes[1]
            lsrc, ltr = self.by_index(left, index)
            rsrc, _ = self.by_index(right, index)
            return lsrc | rsrc, ltr
        selects = expression.selects if isinstance(expression, exp.Query) else []
        if index >= len(selects):
            return set(), "identity"
        projection = selects[index]
        return self.expression_sources(scope, projection), classify_transform(projection)

    def by_name(self, scope: Scope, name: str) -> set[ColumnRef]:
        key = (id(scope), name)
        if key in self._active:
            return set()
        self._active.add(key)
        try:
            return self._by_name(scope, name)
        finally:
            self._active.discard(key)

    def _by_name(self, scope: Scope, name: str) -> set[ColumnRef]:
        expression = scope.expression
        if isinstance(expression, exp.Lateral):  # LATERAL (subquery) alias: trace the subquery
            inner = [s for s in scope.traverse() if s is not scope and s.parent is scope]
            return self.by_name(inner[0], name) if inner else set()
        if isinstance(expression, exp.SetOperation):
            names = _left_names(expression)
            if name in names:
                return self.by_index(scope, names.index(name))[0]
            return set()
        if not isinstance(expression, exp.Select):
            return set()
        for projection in expression.selects:
            if projection.alias_or_name == name:
                return self.expression_sources(scope, projection)
        # SELECT * over a source whose columns we don't know: the name passes through.
        if any(isinstance(p, exp.Star) or (isinstance(p, exp.Column) and p.is_star)
               for p in expression.selects):
            found: set[ColumnRef] = set()
            for source in scope.sources.values():
                found |= self._from_source(source, name)
                if found:
                    break
            return found
        return set()

    def expression_sources(self, scope: Scope, node: exp.Expr) -> set[ColumnRef]:
        found: set[ColumnRef] = set()
        subqueries = {id(s.expression): s for s in scope.subquery_scopes}
        stack = [node]
        while stack:
            current = stack.pop()
            if _is_field_access(current):
                found |= self.file_fields(scope, current)
                continue
            if isinstance(current, exp.Column):
                found |= self.column(scope, current)
                continue
            if isinstance(current, exp.Query) and id(current) in subqueries:
                found |= self.by_index(subqueries[id(current)], 0)[0]
                continue
            if isinstance(current, exp.Window):
                stack.append(current.this)  # partition/order keys are indirect
                continue
            if isinstance(current, exp.Filter):
                stack.append(current.this)  # agg(x) FILTER (WHERE k): k only selects rows
                continue
            stack.extend(current.iter_expressions())
        return found

    def column(self, scope: Scope, column: exp.Column) -> set[ColumnRef]:
        if column.is_star:
            return set()
        table = column.table
        if table and table not in scope.sources and _inside_lateral_named(scope, table):
            # sqlglot qualifies a LATERAL subquery's own columns with the LATERAL's alias
            table = ""
        if table:
            source = scope.sources.get(table)
            if source is None:
                # correlated reference to an outer scope
                parent = scope.parent
                while parent is not None and source is None:
                    source = parent.sources.get(table)
                    parent = parent.parent
            return self._from_source(source, column.name) if source is not None else set()
        # unqualified: only certain when the scope reads exactly one source (its FROM/JOINs;
        # scope.sources also lists the CTEs defined before it, which it may not read)
        selected = [source for _, source in scope.selected_sources.values()]
        sources = selected or list(scope.sources.values())
        if len(sources) == 1:
            return self._from_source(sources[0], column.name)
        if column.name:
            self.unresolved.add(column.name)
        return set()

    def file_fields(self, scope: Scope, node: exp.Expr) -> set[ColumnRef]:
        """``$n`` / ``t.$n`` / ``$1:field`` over a stage read in this scope."""
        column = node.this if isinstance(node, exp.JSONExtract) else node
        alias = column.table if isinstance(column, exp.Column) else ""
        stages = {
            name: self.refs.by_key[_key_of(source)]
            for name, source in scope.sources.items()
            if isinstance(source, exp.Table) and _key_of(source)[2].startswith("__stage_")
            and _key_of(source) in self.refs.by_key
        }
        if alias and alias in stages:
            located = [stages[alias]]
        else:
            located = list(stages.values()) if len(stages) == 1 else []
        return {ColumnRef(stage, f) for stage in located for f in file_fields(node)}

    def _from_source(self, source: object, name: str) -> set[ColumnRef]:
        if isinstance(source, Scope):
            return self.by_name(source, name)
        if isinstance(source, exp.Table):
            ref = self.refs.by_key.get(_key_of(source))
            if ref is None:
                return set()
            known = self.refs.columns.get(_key_of(source))
            if known is not None and name not in known:
                matched = [c for c in known if c.lower() == name.lower()]
                if not matched:
                    self.unresolved.add(f"{ref.name}.{name}")
                    return set()
                name = matched[0]
            return {ColumnRef(ref, name)}
        return set()

    def indirect(self, root: Scope) -> set[ColumnRef]:
        found: set[ColumnRef] = set()
        for scope in root.traverse():
            expression = scope.expression
            if not isinstance(expression, exp.Select):
                continue
            clauses: list[exp.Expr] = []
            for key in ("where", "group", "having", "qualify"):
                if expression.args.get(key) is not None:
                    clauses.append(expression.args[key])
            for join in expression.args.get("joins") or []:
                for key in ("on", "using"):
                    if join.args.get(key) is not None:
                        value = join.args[key]
                        clauses.extend(value if isinstance(value, list) else [value])
            for agg_filter in expression.find_all(exp.Filter):
                clauses.append(agg_filter.expression)
            for window in expression.find_all(exp.Window):
                for key in ("partition_by", "order"):
                    value = window.args.get(key)
                    if value is not None:
                        clauses.extend(value if isinstance(value, list) else [value])
            for clause in clauses:
                for column in clause.find_all(exp.Column):
                    if isinstance(column.this, exp.Identifier):
                        found |= self.column(scope, column)
        return found


def _written_names(tree: exp.Expr, ctx: ResolveContext) -> list[str] | None:
    """Output names as the database would give them to unaliased expressions (sqlglot's
    qualifier calls them ``_col_N``): Postgres names a call after its function (``count``)
    or ``?column?``; Snowflake uses the expression's text (``COUNT(*)``). None with a star."""
    while isinstance(tree, exp.SetOperation):
        tree = tree.this
    if not isinstance(tree, exp.Select) or any(
            isinstance(p, exp.Star) or (isinstance(p, exp.Column) and p.is_star) for p in tree.selects):
        return None
    names = []
    for projection in tree.selects:
        if isinstance(projection, exp.Alias):
            names.append(projection.alias)
        elif isinstance(projection, exp.Column):
            names.append(projection.name)
        elif ctx.dialect is Dialect.SNOWFLAKE:
            names.append(sql_of(projection, ctx.dialect).upper())
        else:
            node = projection.this if isinstance(projection, (exp.Cast, exp.TryCast)) else projection
            if isinstance(node, exp.Column):
                names.append(node.name)
            elif isinstance(node, exp.Anonymous):
                names.append(node.name.lower())
            elif isinstance(node, exp.Func):
                names.append(node.sql_name().lower())
            else:
                names.append("?column?")
    return names


def _inside_lateral_named(scope: Scope, alias: str) -> bool:
    parent = scope.parent
    while parent is not None:
        if isinstance(parent.expression, exp.Lateral) and parent.expression.alias == alias:
            return True
        parent = parent.parent
    return False


def _left_names(expression: exp.Expr) -> list[str]:
    while isinstance(expression, exp.SetOperation):
        expression = expression.this
    if isinstance(expression, exp.Subquery):
        expression = expression.this
    return [p.alias_or_name for p in expression.selects] if isinstance(expression, exp.Query) else []


def classify_transform(projection: exp.Expr) -> str:
    node = projection.this if isinstance(projection, exp.Alias) else projection
    if isinstance(node, exp.Column):
        return "identity"
    if isinstance(node, (exp.Cast, exp.TryCast)) and (
        isinstance(node.this, exp.Column) or _is_field_access(node.this)
    ):
        return "cast"
    if node.find(exp.AggFunc) is not None:
        return "aggregate"
    return "transform"


def trace_query(query: exp.Expr, ctx: ResolveContext) -> QueryLineage:
    """Column lineage of a SELECT/UNION (or a subquery wrapping one).

    >>> from s3lineage.resolve.sqlglot_adapter import parse_expression
    >>> ctx = ResolveContext.create("postgres", default_database="db")
    >>> q = parse_expression("SELECT id, upper(email) AS e FROM users WHERE active", ctx.dialect)
    >>> lineage = trace_query(q, ctx)
    >>> [(p.name, sorted(c.display for c in p.sources), p.transform) for p in lineage.projections]
    [('id', ['db.public.users.id'], 'identity'), ('e', ['db.public.users.email'], 'transform')]
    >>> sorted(c.display for c in lineage.indirect)
    ['db.public.users.active']
    """
    tree = query.copy()
    while isinstance(tree, exp.Subquery):
        tree = tree.this
    stage_lineage = _stage_only_select(tree, ctx)
    if stage_lineage is not None:
        return stage_lineage
    written_names = _written_names(tree, ctx)  # before qualify renames _col_0 etc.
    refs = _register_tables(tree, ctx)
    lineage = QueryLineage(inputs=list(refs.inputs), internal_stages=refs.internal_stages)
    for name in refs.missing:
        lineage.problems.append(("unknown_columns", f"catalog has no columns for {name}"))
    size = sum(1 for _ in tree.walk())
    if size > MAX_TRACE_NODES:
        # sqlglot's qualifier is quadratic on long boolean/arithmetic chains
        lineage.complete = False
        lineage.problems.append(("column_lineage_skipped",
                                 f"query of {size:,} syntax nodes is too large for column tracing "
                                 f"(limit {MAX_TRACE_NODES:,}): table-level lineage only"))
        return lineage
    schema = make_schema(refs.columns, ctx.dialect)
    try:
        qualified = qualify_query(tree, schema, ctx.dialect)
        root = scope_of(qualified)
    except Exception as err:  # noqa: BLE001 — sqlglot's optimizer raises many types
        lineage.complete = False
        lineage.problems.append(("column_lineage_failed", f"{type(err).__name__}: {err}"[:300]))
        return lineage
    if root is None:
        lineage.complete = False
        return lineage
    tracer = _Tracer(refs, ctx)
    expression = root.expression
    names = _left_names(expression)
    if written_names is not None and len(written_names) == len(names):
        names = [w if n.lower().startswith("_col_") else n for n, w in zip(names, written_names, strict=True)]
    for index, name in enumerate(names):
        if name == "*" or not name:
            lineage.complete = False
            continue
        sources, transform = tracer.by_index(root, index)
        lineage.projections.append(Projection(name, sources, transform))
    if any(n == "*" for n in names):
        lineage.problems.append(
            ("unknown_columns", "SELECT * over a table whose columns are not in the catalog")
        )
    lineage.indirect = tracer.indirect(root)
    if tracer.unresolved:
        lineage.problems.append(
            ("unresolved_columns", "could not attribute: " + ", ".join(sorted(tracer.unresolved)[:10]))
        )
    return lineage


# --- stage selects ---------------------------------------------------------------------


def _stage_only_select(tree: exp.Expr, ctx: ResolveContext) -> QueryLineage | None:
    """``SELECT $1, t.$2, $1:field::type FROM @stage t`` → lineage on file fields."""
    if not isinstance(tree, exp.Select) or tree.args.get("joins"):
        return None
    source = tree.args.get("from_")
    table = source.this if source is not None else None
    if not isinstance(table, exp.Table) or not isinstance(table.this, (exp.Var, exp.Literal)):
        return None
    located = stage_or_s3_of(table, ctx)
    lineage = QueryLineage()
    if located == "internal":
        lineage.internal_stages.append(table.this.name)
        return lineage
    if located is None:
        return None
    lineage.inputs.append(located)
    for index, projection in enumerate(tree.selects, start=1):
        fields = file_fields(projection)
        alias = projection.args.get("alias") if isinstance(projection, exp.Alias) else None
        name = (ctx.fold(alias) if alias is not None else None) or projection.alias_or_name or f"${index}"
        sources = {ColumnRef(located, f) for f in fields}
        transform = "identity" if _is_plain_field(projection) else classify_transform(projection)
        lineage.projections.append(Projection(name, sources, transform))
    return lineage


def _is_plain_field(projection: exp.Expr) -> bool:
    node = projection.this if isinstance(projection, exp.Alias) else projection
    return _is_field_access(node)


def _is_field_access(node: exp.Expr) -> bool:
    """``$n``, ``t.$n``, ``$1:a.b``, ``$1['a']``: a field of a staged file (not a table column)."""
    if isinstance(node, (exp.JSONExtract, exp.Bracket)):
        return _is_dollar(node.this) or _is_field_access(node.this)
    return _is_dollar(node)


def file_fields(node: exp.Expr) -> list[str]:
    """File fields an expression over a stage reads: ``$3`` → "$3", ``$1:a.b`` → "a.b"."""
    fields: list[str] = []
    stack = [node]
    while stack:
        current = stack.pop()
        if isinstance(current, exp.JSONExtract) and _is_dollar(current.this):
            path = current.expression
            keys = [k.name for k in path.expressions if isinstance(k, exp.JSONPathKey)] if isinstance(
                path, exp.JSONPath) else [path.name]
            fields.append(".".join(keys) if keys else _dollar_name(current.this))
            continue
        if isinstance(current, exp.Bracket):
            keys = _bracket_path(current)
            if keys is not None:
                fields.append(".".join(keys[1]) if keys[1] else _dollar_name(keys[0]))
                continue
        if _is_dollar(current):
            fields.append(_dollar_name(current))
            continue
        stack.extend(reversed(list(current.iter_expressions())))
    seen: list[str] = []
    for f in fields:
        if f not in seen:
            seen.append(f)
    return seen


def _bracket_path(node: exp.Bracket) -> tuple[exp.Expr, list[str]] | None:
    """``$1['a']['b']`` → ($1, ["a", "b"]); None when the base is not a file field."""
    keys: list[str] = []
    current: exp.Expr = node
    while isinstance(current, exp.Bracket):
        key = current.expressions[0] if current.expressions else None
        if not isinstance(key, exp.Literal) or not key.is_string:
            return None
        keys.insert(0, key.this)
        current = current.this
    return (current, keys) if _is_dollar(current) else None


def _is_dollar(node: exp.Expr) -> bool:
    if isinstance(node, exp.ParseJSON):
        node = node.this
    if isinstance(node, exp.Column) and isinstance(node.this, exp.Parameter):
        node = node.this
    return isinstance(node, exp.Parameter) and isinstance(node.this, exp.Literal)


def _dollar_name(node: exp.Expr) -> str:
    if isinstance(node, exp.ParseJSON):
        node = node.this
    if isinstance(node, exp.Column):
        node = node.this
    return f"${node.this.name}"


def qualify_dataset_kind(ref: DatasetRef) -> bool:
    return ref.kind in (DatasetKind.S3, DatasetKind.STAGE)


def dialect_fold(name: str, dialect: Dialect) -> str:
    return name.upper() if dialect is Dialect.SNOWFLAKE else name.lower()
