"""Snowflake ↔ S3 idioms: COPY INTO <table> (loads), COPY INTO <location> (unloads),
CREATE STAGE, CREATE PIPE, CREATE EXTERNAL TABLE.

https://docs.snowflake.com/en/sql-reference/sql/copy-into-table
https://docs.snowflake.com/en/sql-reference/sql/copy-into-location
https://docs.snowflake.com/en/sql-reference/sql/create-stage
https://docs.snowflake.com/en/sql-reference/sql/create-pipe
https://docs.snowflake.com/en/sql-reference/sql/create-external-table
"""

from __future__ import annotations

import re

from s3lineage.model import ColumnRef, DatasetRef, ReadFilter, Severity
from s3lineage.naming import s3_ref, stage_ref
from s3lineage.resolve.builder import Builder
from s3lineage.resolve.columns import (
    Projection,
    file_fields,
    stage_or_s3_of,
    trace_query,
)
from s3lineage.resolve.handlers.common import (
    Statement,
    copy_whole_table,
    insert_columns,
    string_value,
    table_columns,
    target_table,
)
from s3lineage.resolve.shape import classify
from s3lineage.resolve.sqlglot_adapter import copy_position, exp, parse_statement

_SEMI_STRUCTURED = {"json", "parquet", "avro", "orc", "xml"}
# CREATE PIPE falls back to exp.Command in sqlglot: recover the name and the COPY from
# the text (the COPY position from tokens, so a COMMENT mentioning "AS COPY INTO" is inert).
_PIPE_NAME = re.compile(
    r"^\s*CREATE\s+(?:OR\s+REPLACE\s+)?PIPE\s+(?:IF\s+NOT\s+EXISTS\s+)?"
    r"((?:\"(?:[^\"]|\"\")*\"|[^\s.\"(]+)(?:\.(?:\"(?:[^\"]|\"\")*\"|[^\s.\"(]+)){0,2})",
    re.IGNORECASE,
)


def _params(tree: exp.Copy) -> dict[str, exp.Expr]:
    params: dict[str, exp.Expr] = {}
    for param in tree.args.get("params") or []:
        if param.this is None:
            continue
        params[param.this.name.upper()] = param
    return params


def _param_value(param: exp.Expr | None) -> exp.Expr | None:
    return param.args.get("expression") if param is not None else None


def _file_format(params: dict[str, exp.Expr]) -> str | None:
    ff = params.get("FILE_FORMAT")
    if ff is None:
        return None
    for prop in ff.expressions or []:
        if isinstance(prop, exp.Property) and prop.name.upper() == "TYPE":
            return prop.args["value"].name.lower()
    return None


def _format_option(params: dict[str, exp.Expr], option: str) -> str | None:
    ff = params.get("FILE_FORMAT")
    for prop in (ff.expressions or []) if ff is not None else []:
        if isinstance(prop, exp.Property) and prop.name.upper() == option:
            return prop.args["value"].name
    direct = params.get(option)
    if direct is not None and _param_value(direct) is not None:
        return _param_value(direct).name
    return None


def _location(node: exp.Expr, stmt: Statement, builder: Builder) -> DatasetRef | None:
    located = stage_or_s3_of(node, stmt.ctx)
    if located == "internal":
        text = node.this.name if isinstance(node, exp.Table) else node.name
        builder.internal_stage(text)
        return None
    return located if isinstance(located, DatasetRef) else None


def copy_load(stmt: Statement, builder: Builder) -> None:
    """COPY INTO <table> [(cols)] FROM @stage/path | 's3://…' | (SELECT … FROM @stage)."""
    tree = stmt.tree
    params = _params(tree)
    if "VALIDATION_MODE" in params:
        builder.diag("validation_only", Severity.INFO,
                     "COPY with VALIDATION_MODE only checks the files: nothing is loaded", penalty=0.0)
        return
    target, explicit = target_table(tree.this, stmt.ctx)
    files = tree.args.get("files") or []
    source_node = files[0] if files else None
    fmt = _file_format(params)
    if fmt or "FILE_FORMAT" not in params:
        builder.file_format = fmt or "csv"  # CSV is Snowflake's default file format
    if isinstance(source_node, exp.Subquery):
        _transform_load(stmt, builder, source_node.this, target, explicit, params)
        return
    source = _location(source_node, stmt, builder) if source_node is not None else None
    if source is None:
        return
    builder.add_input(source)
    builder.add_output(target)
    _add_read_filter(builder, source, params)
    match_by = (_param_value(params.get("MATCH_BY_COLUMN_NAME")) or exp.Var(this="NONE")).name.upper()
    if match_by in ("CASE_SENSITIVE", "CASE_INSENSITIVE"):
        columns = insert_columns(builder, target, explicit)
        from_metadata = _metadata_columns(params, stmt)  # INCLUDE_METADATA: not file fields
        for column in columns or ():
            if column.upper() in from_metadata:
                continue
            builder.add_edge(target, column, Projection(column, {ColumnRef(source, column)}, "identity"))
        return
    if fmt in _SEMI_STRUCTURED:
        builder.diag(
            "variant_load",
            Severity.INFO,
            f"{fmt.upper()} load without MATCH_BY_COLUMN_NAME or a transform puts each record "
            "in one VARIANT column: table-level lineage only",
            penalty=0.0,
        )
        return
    columns = insert_columns(builder, target, explicit)
    for i, column in enumerate(columns or (), start=1):
        builder.add_edge(target, column, Projection(column, {ColumnRef(source, f"${i}")}, "positional"))


def _metadata_columns(params: dict[str, exp.Expr], stmt: Statement) -> set[str]:
    """Target columns that ``INCLUDE_METADATA = (col = METADATA$…)`` fills."""
    value = _param_value(params.get("INCLUDE_METADATA"))
    if value is None:
        return set()
    return {
        (stmt.ctx.fold(eq.this.this) or eq.this.name).upper()
        for eq in value.find_all(exp.EQ)
        if isinstance(eq.this, exp.Column) and isinstance(eq.this.this, exp.Identifier)
    }


def _transform_load(
    stmt: Statement,
    builder: Builder,
    query: exp.Expr,
    target: DatasetRef,
    explicit: list[str] | None,
    params: dict[str, exp.Expr],
) -> None:
    lineage = trace_query(query, stmt.ctx)
    builder.absorb(lineage)
    builder.add_output(target)
    for source in lineage.inputs:
        _add_read_filter(builder, source, params, query)
    columns = explicit or table_columns(target, stmt.ctx)
    if columns is None:
        # Without a column list the select maps onto the table's columns by position.
        builder.diag("unknown_columns", Severity.INFO,
                     f"columns of {target.display} are not in the catalog: column lineage needs them")
        return
    builder.map_projections(target, list(columns), lineage)


def _add_read_filter(
    builder: Builder, source: DatasetRef, params: dict[str, exp.Expr], query: exp.Expr | None = None
) -> None:
    pattern = string_value(_param_value(params.get("PATTERN")))
    if pattern is None and query is not None:
        table = query.find(exp.Table)
        if table is not None:
            pattern = string_value(table.args.get("pattern"))
    files_node = _param_value(params.get("FILES"))
    files: tuple[str, ...] = ()
    if isinstance(files_node, exp.Tuple):
        files = tuple(v for v in (string_value(e) for e in files_node.expressions) if v)
    elif files_node is not None and string_value(files_node):
        files = (string_value(files_node),)  # type: ignore[assignment]
    if pattern or files:
        builder.read_filters.append(ReadFilter(source, pattern, files))


def copy_unload(stmt: Statement, builder: Builder) -> None:
    """COPY INTO @stage/prefix | 's3://…' FROM table | (SELECT …)."""
    tree = stmt.tree
    params = _params(tree)
    target = _location(tree.this, stmt, builder)
    files = tree.args.get("files") or []
    source = files[0] if files else None
    builder.file_format = _file_format(params) or "csv"
    if isinstance(source, exp.Subquery):
        lineage = trace_query(source.this, stmt.ctx)
        builder.absorb(lineage)
        if target is not None:
            builder.add_output(target)
            builder.map_projections(target, None, lineage)
        return
    if not isinstance(source, exp.Table):
        return
    table, _ = target_table(source, stmt.ctx)
    if target is None:
        builder.add_input(table)
        return
    copy_whole_table(builder, table, target)


def copy_internal(stmt: Statement, builder: Builder) -> None:
    """COPY from/to @~ or @%table: Snowflake-internal storage, no S3 lineage."""
    tree = stmt.tree
    files = tree.args.get("files") or []
    for node in (tree.this, *files):
        if isinstance(node, exp.Table) and isinstance(node.this, (exp.Var, exp.Literal)):
            _location(node, stmt, builder)
    # The tables on the other side are still written (load) or read (unload).
    if stmt.shape.copy_to == "table":
        builder.add_output(target_table(tree.this, stmt.ctx)[0])
    source = files[0] if files else None
    if isinstance(source, exp.Subquery):
        builder.absorb(trace_query(source.this, stmt.ctx))
    elif isinstance(source, exp.Table) and not isinstance(source.this, (exp.Var, exp.Literal)):
        builder.add_input(target_table(source, stmt.ctx)[0])


def create_stage(stmt: Statement, builder: Builder) -> None:
    """CREATE [OR REPLACE] STAGE s URL='s3://…': the S3 location flows into its alias, the stage."""
    tree = stmt.tree
    table = tree.this.this if isinstance(tree.this, exp.Schema) else tree.this
    parts = stmt.ctx.table_parts(table)
    url = None
    properties = tree.args.get("properties")
    for prop in properties.expressions if properties is not None else []:
        if isinstance(prop, exp.Property) and prop.name.upper() == "URL":
            url = string_value(prop.args.get("value"))
    stage = stage_ref(stmt.ctx.namespace, parts, "")
    location = s3_ref(url) if url else None
    if location is None:
        builder.internal_stage(f"@{'.'.join(parts)}")
        return
    builder.add_input(location)
    builder.add_output(stage)
    builder.stage_url = (stage, url)  # type: ignore[assignment]


def create_pipe(stmt: Statement, builder: Builder) -> None:
    """CREATE PIPE p AS COPY INTO …: the pipe's loads (seen only in COPY_HISTORY) run this COPY."""
    match = _PIPE_NAME.match(stmt.text)
    start = copy_position(stmt.text, stmt.ctx.dialect)
    if not match or start is None:
        builder.diag("unrecognized_pipe", Severity.WARNING, "CREATE PIPE without AS COPY INTO", penalty=1.0)
        return
    name, copy_sql = match.group(1), stmt.text[start:].strip().rstrip(";")
    parsed = parse_statement(copy_sql, stmt.ctx.dialect)
    if parsed.tree is None or not isinstance(parsed.tree, exp.Copy):
        builder.diag("parse_error", Severity.WARNING, f"the pipe's COPY does not parse: {parsed.error}",
                     penalty=0.5)
        return
    inner = Statement(parsed, classify(parsed.tree, copy_sql), stmt.ctx)
    copy_load(inner, builder)
    pipe_table = parse_statement(f"SELECT 1 FROM {name}", stmt.ctx.dialect).tree
    table = pipe_table.find(exp.Table) if pipe_table is not None else None
    builder.pipe = ".".join(stmt.ctx.table_parts(table)) if table is not None else name
    builder.diag("command_fallback", Severity.INFO,
                 "sqlglot reads CREATE PIPE as an opaque command; its COPY was recovered from the text")


def create_external_table(stmt: Statement, builder: Builder) -> None:
    """CREATE EXTERNAL TABLE t (c TYPE AS (value:c::TYPE), …) LOCATION=@stage/path."""
    tree = stmt.tree
    target, _ = target_table(tree.this, stmt.ctx)
    location = None
    pattern = None
    for prop in tree.args["properties"].expressions:
        if isinstance(prop, exp.LocationProperty):
            location = _location(prop.this, stmt, builder)
        elif isinstance(prop, exp.Property) and prop.name.upper() == "PATTERN":
            pattern = string_value(prop.args.get("value"))
    if location is None:
        return
    builder.add_input(location)
    builder.add_output(target)
    if pattern:
        builder.read_filters.append(ReadFilter(location, pattern))
    schema = tree.this if isinstance(tree.this, exp.Schema) else None
    for column in schema.expressions if schema is not None else []:
        if not isinstance(column, exp.ColumnDef):
            continue
        computed = column.find(exp.ComputedColumnConstraint)
        if computed is None:
            continue
        fields = _value_fields(computed.this)
        name = stmt.ctx.fold(column.this) or column.name
        if fields:
            builder.add_edge(target, name, Projection(name, {ColumnRef(location, f) for f in fields}, "field"))


def _value_fields(node: exp.Expr) -> list[str]:
    """``value:a.b::type`` → ["a.b"]; ``$1`` style fields are handled by file_fields."""
    fields: list[str] = []
    for extract in node.find_all(exp.JSONExtract):
        base = extract.this
        if isinstance(base, exp.Column) and base.name.upper() == "VALUE":
            path = extract.expression
            keys = [k.name for k in path.expressions if isinstance(k, exp.JSONPathKey)]
            if keys:
                fields.append(".".join(keys))
    return fields or file_fields(node)
