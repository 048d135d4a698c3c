"""Handlers for plain SQL writes and reads, the same in both dialects.

INSERT … SELECT, CREATE TABLE AS, SELECT INTO, CREATE [MATERIALIZED] VIEW, MERGE, UPDATE
and read-only SELECT (including Snowflake ``SELECT … FROM @stage``).
"""

from __future__ import annotations

from s3lineage.resolve.builder import QUERY_RESULT, Builder
from s3lineage.resolve.columns import Projection, trace_query
from s3lineage.resolve.handlers.common import (
    Statement,
    copy_whole_table,
    insert_columns,
    query_into,
    target_table,
)
from s3lineage.resolve.sqlglot_adapter import exp


def select(stmt: Statement, builder: Builder) -> None:
    """A read: inputs only; the result's columns are reported for the developer view."""
    lineage = trace_query(stmt.tree, stmt.ctx)
    builder.absorb(lineage)
    for projection in lineage.projections:
        builder.add_edge(QUERY_RESULT, projection.name, projection)


def select_into(stmt: Statement, builder: Builder) -> None:
    tree = stmt.tree.copy()
    into = tree.args["into"]
    tree.set("into", None)
    target, _ = target_table(into.this, stmt.ctx)
    builder.temporary = bool(into.args.get("temporary"))
    query_into(builder, tree, target, None)


def insert(stmt: Statement, builder: Builder) -> None:
    tree = stmt.tree
    source = tree.expression
    target, explicit = target_table(tree.this, stmt.ctx)
    if source is None or isinstance(source, exp.Values) or source.find(exp.Query) is None and not isinstance(source, exp.Query):
        builder.add_output(target)  # INSERT … VALUES: written, but from no upstream dataset
        return
    columns = insert_columns(builder, target, explicit)
    if tree.args.get("with_") is not None and isinstance(source, exp.Select):
        source = _with_ctes(source.copy(), tree)  # WITH … INSERT INTO t SELECT …
    lineage = trace_query(source, stmt.ctx)
    builder.absorb(lineage)
    builder.add_output(target)
    if columns is not None:
        builder.map_projections(target, columns, lineage)


def insert_multi(stmt: Statement, builder: Builder) -> None:
    """Snowflake ``INSERT [OVERWRITE] ALL|FIRST [WHEN c THEN] INTO t [(cols)] [VALUES (…)] … SELECT …``.

    Each INTO is an INSERT of its VALUES (names of the SELECT's columns), or of the whole
    SELECT, from the shared source query; WHEN conditions only pick rows.
    """
    tree = stmt.tree
    source = tree.args.get("source")
    if not isinstance(source, exp.Query):
        return
    lineage = trace_query(source, stmt.ctx)
    builder.absorb(lineage)
    by_name = {p.name.upper(): p for p in lineage.projections}
    for branch in tree.expressions:
        insert_node = branch.this if isinstance(branch, exp.ConditionalInsert) else branch
        if not isinstance(insert_node, exp.Insert):
            continue
        target, explicit = target_table(insert_node.this, stmt.ctx)
        builder.add_output(target)
        values = insert_node.expression
        if isinstance(values, exp.Values) and values.expressions:
            row = values.expressions[0]
            items = row.expressions if isinstance(row, exp.Tuple) else [row]
            picked = [by_name.get(item.name.upper()) if isinstance(item, exp.Column) else None for item in items]
        else:
            picked = list(lineage.projections)
        columns = insert_columns(builder, target, explicit)
        for column, projection in zip(columns or (), picked, strict=False):
            if projection is not None:
                builder.add_edge(target, column, projection)


def create_as(stmt: Statement, builder: Builder) -> None:
    """CREATE TABLE … AS / CREATE [MATERIALIZED] VIEW … AS."""
    tree = stmt.tree
    query = tree.expression
    target, explicit = target_table(tree.this, stmt.ctx)
    if query is None:
        return
    properties = tree.args.get("properties")
    builder.temporary = properties is not None and any(
        isinstance(p, exp.TemporaryProperty) for p in properties.expressions
    )
    query_into(builder, query, target, explicit)


def create_table(stmt: Statement, builder: Builder) -> None:
    """CREATE TEMP TABLE t (cols): declares a session temp table that later INSERTs fill.
    CREATE TABLE t CLONE s (Snowflake): t is a copy of s, column for column.

    A permanent CREATE TABLE without a query carries no lineage.
    """
    tree = stmt.tree
    clone = tree.args.get("clone")
    if clone is not None and isinstance(clone.this, exp.Table):
        source, _ = target_table(clone.this, stmt.ctx)
        target, _ = target_table(tree.this, stmt.ctx)
        copy_whole_table(builder, source, target)
        return
    properties = tree.args.get("properties")
    if properties is None or not any(isinstance(p, exp.TemporaryProperty) for p in properties.expressions):
        return
    target, columns = target_table(tree.this, stmt.ctx)
    builder.temporary = True
    builder.add_output(target, columns or ())


def merge(stmt: Statement, builder: Builder) -> None:
    """MERGE INTO t USING s ON … WHEN MATCHED THEN UPDATE SET … WHEN NOT MATCHED THEN INSERT …"""
    tree = stmt.tree
    target, _ = target_table(tree.this, stmt.ctx)
    assignments: list[tuple[str, exp.Expr]] = []
    whens = tree.args.get("whens")
    for when in whens.expressions if whens is not None else []:
        action = when.args.get("then")
        if isinstance(action, exp.Update):
            assignments.extend(_set_items(action.expressions, stmt))
        elif isinstance(action, exp.Insert):
            columns = action.this.expressions if isinstance(action.this, exp.Tuple) else []
            values = action.expression.expressions if isinstance(action.expression, exp.Tuple) else []
            for column, value in zip(columns, values, strict=False):
                assignments.append((_column_name(column, stmt), value))
    _assignments_into(builder, stmt, target, tree.this, tree.args.get("using"), assignments)


def update(stmt: Statement, builder: Builder) -> None:
    """UPDATE t SET c = expr [FROM s] [WHERE …]: lineage only when another table feeds it."""
    tree = stmt.tree
    target, _ = target_table(tree.this, stmt.ctx)
    source = tree.args.get("from_")
    assignments = _set_items(tree.expressions, stmt)
    _assignments_into(builder, stmt, target, tree.this, source.this if source else None, assignments,
                      where=tree.args.get("where"))


def _with_ctes(query: exp.Select, tree: exp.Expr) -> exp.Select:
    """``WITH f AS (…) MERGE/UPDATE …``: the statement's CTEs belong to its source query."""
    with_ = tree.args.get("with_")
    for cte in with_.expressions if with_ is not None else []:
        query = query.with_(cte.alias, cte.this.copy())
    return query


def _set_items(items: list[exp.Expr], stmt: Statement) -> list[tuple[str, exp.Expr]]:
    return [(_column_name(i.this, stmt), i.expression) for i in items if isinstance(i, exp.EQ)]


def _column_name(node: exp.Expr, stmt: Statement) -> str:
    ident = node.this if isinstance(node, exp.Column) else node
    return stmt.ctx.fold(ident) if isinstance(ident, exp.Identifier) else node.name  # type: ignore[return-value]


def _assignments_into(
    builder: Builder,
    stmt: Statement,
    target,
    target_node: exp.Expr,
    source: exp.Expr | None,
    assignments: list[tuple[str, exp.Expr]],
    where: exp.Expr | None = None,
) -> None:
    """Trace ``SELECT <expr> AS <col>, … FROM <source> CROSS JOIN <target>``.

    Joining the target lets ``t.col`` references resolve; we then drop the target's own
    columns so a MERGE does not report the table as its own upstream.
    """
    builder.add_output(target)
    if source is None or not assignments:
        return
    query = exp.select(*[exp.alias_(expr.copy(), f"c{i}") for i, (_, expr) in enumerate(assignments)])
    query = query.from_(source.copy()).join(target_node.copy())
    query = _with_ctes(query, stmt.tree)
    if where is not None:
        query.set("where", where.copy())
    lineage = trace_query(query, stmt.ctx)
    lineage.inputs = [ref for ref in lineage.inputs if ref != target]
    lineage.indirect = {c for c in lineage.indirect if c.dataset != target}
    for projection in lineage.projections:
        projection.sources = {c for c in projection.sources if c.dataset != target}
    on = stmt.tree.args.get("on")
    if on is not None:
        on_query = _with_ctes(exp.select("1").from_(source.copy()).join(target_node.copy()).where(on.copy()),
                              stmt.tree)
        extra = trace_query(on_query, stmt.ctx)
        lineage.indirect |= {c for c in extra.indirect if c.dataset != target}
    builder.absorb(lineage)
    # UPDATE and INSERT branches of a MERGE may both set a column: keep every source.
    merged: dict[str, Projection] = {}
    for (name, _), projection in zip(assignments, lineage.projections, strict=False):
        if name in merged:
            merged[name].sources |= projection.sources
            if merged[name].transform != projection.transform:
                merged[name].transform = "transform"
        else:
            merged[name] = Projection(name, set(projection.sources), projection.transform)
    for name, projection in merged.items():
        builder.add_edge(target, name, projection)
    builder.add_indirect(target, list(merged), lineage)
