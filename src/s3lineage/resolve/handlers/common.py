"""Helpers shared by the idiom handlers: literals, targets, and the generic query path."""

from __future__ import annotations

from dataclasses import dataclass

from s3lineage.model import ColumnRef, DatasetRef, Severity
from s3lineage.resolve.builder import Builder
from s3lineage.resolve.columns import Projection, QueryLineage, trace_query
from s3lineage.resolve.context import ResolveContext
from s3lineage.resolve.shape import Shape
from s3lineage.resolve.sqlglot_adapter import ParsedStatement, exp

_STRING_NODES = (exp.Literal, exp.RawString, exp.ByteString, exp.National)


@dataclass(frozen=True, slots=True)
class Statement:
    """What a handler gets: the statement, its shape and the context it ran in."""

    parsed: ParsedStatement
    shape: Shape
    ctx: ResolveContext

    @property
    def tree(self) -> exp.Expr:
        assert self.parsed.tree is not None
        return self.parsed.tree

    @property
    def text(self) -> str:
        return self.parsed.text


def string_value(node: exp.Expr | None) -> str | None:
    """The value of a string literal (any quoting: '…', E'…', $$…$$), else None."""
    if node is None:
        return None
    if isinstance(node, exp.Cast):
        return string_value(node.this)
    if isinstance(node, exp.Literal):
        return node.this if node.is_string else None
    if isinstance(node, (exp.RawString, exp.ByteString, exp.National)):
        return node.this if isinstance(node.this, str) else node.name
    if isinstance(node, exp.Concat):  # 'a' || 'b' with only literals
        parts = [string_value(e) for e in node.expressions]
        return "".join(parts) if all(p is not None for p in parts) else None  # type: ignore[arg-type]
    return None


def is_placeholder(node: exp.Expr | None) -> bool:
    """``$1`` / ``?`` / ``%s``: a bound parameter whose value the text does not have."""
    if isinstance(node, exp.Cast):
        node = node.this
    return isinstance(node, (exp.Parameter, exp.Placeholder))


def call_arguments(call: exp.Expr) -> tuple[list[exp.Expr], dict[str, exp.Expr]]:
    """Positional and named (``name => v`` / ``name := v``) arguments of a function call."""
    positional: list[exp.Expr] = []
    named: dict[str, exp.Expr] = {}
    for arg in call.expressions:
        if isinstance(arg, (exp.Kwarg, exp.PropertyEQ)):
            named[arg.this.name.lower()] = arg.expression
        else:
            positional.append(arg)
    return positional, named


def target_table(node: exp.Expr, ctx: ResolveContext) -> tuple[DatasetRef, list[str] | None]:
    """A write target (``t`` or ``t (a, b)``) → its dataset and explicit column list."""
    columns: list[str] | None = None
    if isinstance(node, exp.Schema):
        # (a, b), typed (a NUMBER, b TEXT), or commented (a COMMENT 'x', b)
        columns = [
            ctx.fold(c if isinstance(c, exp.Identifier) else c.this) or ""  # type: ignore[arg-type]
            for c in node.expressions
            if isinstance(c, (exp.Identifier, exp.Column, exp.ColumnDef))
        ] or None
        node = node.this
    assert isinstance(node, exp.Table)
    alias = node.args.get("alias")
    if columns is None and alias is not None and alias.args.get("columns"):
        # Postgres INSERT INTO t AS x (a, b): the column list is parsed onto the alias
        columns = [ctx.fold(c) or "" for c in alias.args["columns"] if isinstance(c, exp.Identifier)] or None
    return ctx.table_ref(ctx.table_parts(node)), columns


def table_columns(ref: DatasetRef, ctx: ResolveContext) -> tuple[str, ...] | None:
    return ctx.columns_of(tuple(ref.name.split(".")))


def query_into(
    builder: Builder,
    query: exp.Expr,
    target: DatasetRef,
    target_columns: list[str] | tuple[str, ...] | None,
) -> QueryLineage:
    """Trace ``query`` and map its projections onto ``target``'s columns."""
    lineage = trace_query(query, builder.ctx)
    builder.absorb(lineage)
    builder.add_output(target)
    builder.map_projections(target, target_columns, lineage)
    return lineage


def insert_columns(
    builder: Builder, target: DatasetRef, explicit: list[str] | None
) -> tuple[str, ...] | None:
    """Columns an INSERT/COPY writes: the explicit list, else the catalog's, else unknown."""
    if explicit:
        return tuple(explicit)
    known = table_columns(target, builder.ctx)
    if known is None:
        builder.diag(
            "unknown_columns",
            Severity.INFO,
            f"columns of {target.display} are not in the catalog: column lineage needs them "
            "(add a columns_file, or --schema-file)",
        )
    return known


def copy_whole_table(builder: Builder, table: DatasetRef, target: DatasetRef,
                    explicit: list[str] | tuple[str, ...] | None = None) -> None:
    """A whole table copied as is (``COPY t TO …``, ``COPY INTO @s FROM t``, ``CLONE``):
    each column becomes the field/column of the same name, when the columns are known."""
    builder.add_input(table)
    builder.add_output(target)
    columns = explicit or table_columns(table, builder.ctx)
    if columns is None:
        builder.diag("unknown_columns", Severity.INFO,
                     f"columns of {table.display} are not in the catalog; table-level lineage only")
        return
    builder.output_fields[target] = tuple(columns)
    for column in columns:
        builder.add_edge(target, column, Projection(column, {ColumnRef(table, column)}, "identity"))
