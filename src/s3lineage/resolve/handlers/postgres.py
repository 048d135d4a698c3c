"""PostgreSQL ↔ S3 idioms.

- RDS/Aurora ``aws_s3.query_export_to_s3`` / ``aws_s3.table_import_from_s3``
  https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/postgresql-s3-export.html
- ``COPY … TO PROGRAM 'aws s3 cp - s3://…'`` and ``COPY … FROM PROGRAM 'aws s3 cp s3://… -'``
  https://www.postgresql.org/docs/current/sql-copy.html
- pg_parquet ``COPY … TO|FROM 's3://…'`` https://github.com/CrunchyData/pg_parquet
"""

from __future__ import annotations

import re

from s3lineage.model import ColumnRef, DatasetRef, Severity
from s3lineage.naming import find_s3_urls, s3_ref, s3_ref_from_parts
from s3lineage.resolve.builder import Builder
from s3lineage.resolve.columns import Projection, trace_query
from s3lineage.resolve.handlers.common import (
    Statement,
    call_arguments,
    copy_whole_table,
    insert_columns,
    is_placeholder,
    string_value,
    target_table,
)
from s3lineage.resolve.shape import function_name
from s3lineage.resolve.sqlglot_adapter import (
    PROGRAM_PREFIX,
    exp,
    parse_copy_options,
    parse_statement,
)

_NORMALIZED_FIX = (
    "pg_stat_statements keeps only the normalized text ($1, $2 …), which hides the inner "
    "query and the S3 target; read the server log instead, with log_min_duration_statement = 0 "
    "(or log_statement = 'all') and log_parameter_max_length = -1"
)


def query_export_to_s3(stmt: Statement, builder: Builder) -> None:
    """``aws_s3.query_export_to_s3(query, s3_info | bucket, path, region, options, kms)``."""
    calls = [f for f in stmt.tree.find_all(exp.Anonymous) if function_name(f) == "query_export_to_s3"]
    for call in calls:
        _export_call(stmt, builder, call)


def _export_call(stmt: Statement, builder: Builder, call: exp.Anonymous) -> None:
    positional, named = call_arguments(call)
    query_node = named.get("query", positional[0] if positional else None)
    rest = positional[1:]
    inner_sql = string_value(query_node)
    if _has_placeholders(query_node, rest, named):
        builder.diag("normalized_parameters", Severity.WARNING, _NORMALIZED_FIX, penalty=1.0)
        if inner_sql is not None:  # the query is known, only the destination is not
            parsed = parse_statement(inner_sql, stmt.ctx.dialect)
            if parsed.tree is not None:
                builder.absorb(trace_query(parsed.tree, builder.ctx))
        return
    destination, options = _export_destination(rest, named)
    if inner_sql is None or destination is None:
        builder.diag(
            "unrecognized_export",
            Severity.WARNING,
            "query_export_to_s3 call whose query or S3 destination is not a literal",
            penalty=0.5,
        )
        return
    builder.file_format = _format_of(options, destination.name)
    _export_query_text(stmt, builder, inner_sql, destination)


def _has_placeholders(query: exp.Expr | None, rest: list[exp.Expr], named: dict[str, exp.Expr]) -> bool:
    """``$1`` anywhere in the call (pg_stat_statements text, or a log line without DETAIL)."""
    nodes = [n for n in (query, *rest, *named.values()) if n is not None]
    return any(is_placeholder(n) or any(is_placeholder(p) for p in n.find_all(exp.Parameter, exp.Placeholder))
               for n in nodes)


def _export_destination(
    rest: list[exp.Expr], named: dict[str, exp.Expr]
) -> tuple[DatasetRef | None, str | None]:
    """Where the export goes, and its options string, for every overload."""
    s3_info = named.get("s3_info")
    if "bucket" in named or "file_path" in named:
        bucket, path = string_value(named.get("bucket")), string_value(named.get("file_path"))
        options = string_value(named.get("options"))
        return (s3_ref_from_parts(bucket, path or "") if bucket else None), options
    if s3_info is None and rest:
        first = rest[0]
        uri = _s3_uri(first)
        if uri is not None:
            s3_info = first
            rest = rest[1:]
        elif len(rest) >= 3 and string_value(first) is not None:
            # (query, bucket, file_path, region [, options [, kms_key]])
            bucket, path = string_value(rest[0]), string_value(rest[1]) or ""
            options = string_value(named.get("options", rest[3] if len(rest) > 3 else None))
            return (s3_ref_from_parts(bucket, path) if bucket else None), options
    if s3_info is None:
        return None, None
    uri = _s3_uri(s3_info)
    options = string_value(named.get("options", rest[0] if rest and rest[0] is not s3_info else None))
    if uri is None:
        return None, options
    return s3_ref_from_parts(uri[0], uri[1]), options


def _s3_uri(node: exp.Expr | None) -> tuple[str, str] | None:
    """(bucket, path) from create_s3_uri(…), ROW(…), or the composite literal '(b,p,r)'."""
    if node is None:
        return None
    if isinstance(node, exp.Cast):
        node = node.this
    if isinstance(node, exp.Dot):
        node = node.expression
    if isinstance(node, (exp.Anonymous, exp.Tuple, exp.Struct)) and (
        not isinstance(node, exp.Anonymous) or function_name(node) in ("create_s3_uri", "row")
    ):
        positional, named = call_arguments(node)
        bucket = string_value(named.get("bucket", positional[0] if positional else None))
        path = string_value(named.get("file_path", positional[1] if len(positional) > 1 else None))
        return (bucket, path or "") if bucket else None
    text = string_value(node)
    if text and text.strip().startswith("(") and text.strip().endswith(")"):
        fields = _composite_fields(text.strip()[1:-1])
        if len(fields) >= 2 and fields[0]:
            return fields[0], fields[1]
    return None


def _composite_fields(body: str) -> list[str]:
    """Split a composite-type text value: ``b,"path, with comma",r``."""
    fields, current, quoted, i = [], [], False, 0
    while i < len(body):
        ch = body[i]
        if quoted:
            if ch == '"' and i + 1 < len(body) and body[i + 1] == '"':
                current.append('"')
                i += 1
            elif ch == '"':
                quoted = False
            elif ch == "\\" and i + 1 < len(body):
                current.append(body[i + 1])
                i += 1
            else:
                current.append(ch)
        elif ch == '"':
            quoted = True
        elif ch == ",":
            fields.append("".join(current).strip())
            current = []
        else:
            current.append(ch)
        i += 1
    fields.append("".join(current).strip())
    return fields


def _format_of(options: str | None, key: str) -> str:
    if options:
        fmt = parse_copy_options(options).get("format")
        if fmt:
            return fmt.lower()
    lowered = key.lower()
    for ext, fmt in ((".parquet", "parquet"), (".csv", "csv"), (".json", "json"), (".tsv", "text")):
        if ext in lowered:
            return fmt
    return "text"


def _export_query_text(stmt: Statement, builder: Builder, inner_sql: str, target: DatasetRef) -> None:
    parsed = parse_statement(inner_sql, stmt.ctx.dialect)
    if parsed.tree is None:
        builder.add_output(target)
        builder.diag("parse_error", Severity.WARNING,
                     f"inner query of the export does not parse: {parsed.error}", penalty=0.5)
        return
    _export_query(builder, parsed.tree, target)


_JSON_ROW = {"row_to_json", "to_json", "to_jsonb"}
_JSON_OBJECT = {"json_build_object", "jsonb_build_object"}


def _json_document_fields(query: exp.Expr) -> exp.Expr:
    """``SELECT row_to_json(p) FROM (…) p`` / ``json_build_object('k', v, …)`` writes one JSON
    document per row: the file's fields are the document's keys, so trace those instead."""
    if not isinstance(query, exp.Select) or len(query.selects) != 1:
        return query
    node = query.selects[0]
    node = node.this if isinstance(node, exp.Alias) else node
    if not isinstance(node, exp.Anonymous):
        return query
    name, args = function_name(node), node.expressions
    if name in _JSON_ROW and len(args) == 1 and isinstance(args[0], exp.Column) and not args[0].table:
        # the whole row of a FROM item: its columns are the keys
        return query.copy().select(exp.Column(this=exp.Star(), table=exp.to_identifier(args[0].name)),
                                   append=False)
    if name in _JSON_OBJECT and len(args) % 2 == 0 and args:
        pairs = [(string_value(k), v) for k, v in zip(args[::2], args[1::2], strict=True)]
        if all(key for key, _ in pairs):
            return query.copy().select(*[exp.alias_(v.copy(), key, quoted=True) for key, v in pairs],
                                       append=False)
    return query


def _export_query(builder: Builder, query: exp.Expr, target: DatasetRef) -> None:
    query = _json_document_fields(query)
    lineage = trace_query(query, builder.ctx)
    builder.absorb(lineage)
    builder.add_output(target)
    builder.map_projections(target, None, lineage)


def table_import_from_s3(stmt: Statement, builder: Builder) -> None:
    """``aws_s3.table_import_from_s3(table, column_list, options, s3_info | bucket, path, region)``."""
    for call in stmt.tree.find_all(exp.Anonymous):
        if function_name(call) != "table_import_from_s3":
            continue
        positional, named = call_arguments(call)
        args = {k: named.get(k) for k in ("table_name", "column_list", "options", "s3_info", "bucket", "file_path")}
        for i, key in enumerate(("table_name", "column_list", "options")):
            if args[key] is None and len(positional) > i:
                args[key] = positional[i]
        tail = positional[3:]
        if args["s3_info"] is None and args["bucket"] is None and tail:
            if _s3_uri(tail[0]) is not None:
                args["s3_info"] = tail[0]
            elif len(tail) >= 2:
                args["bucket"], args["file_path"] = tail[0], tail[1]
        if any(is_placeholder(v) for v in args.values()):
            builder.diag("normalized_parameters", Severity.WARNING, _NORMALIZED_FIX, penalty=1.0)
            continue
        table_name = string_value(args["table_name"])
        if args["s3_info"] is not None:
            uri = _s3_uri(args["s3_info"])
            source = s3_ref_from_parts(*uri) if uri else None
        else:
            bucket = string_value(args["bucket"])
            source = s3_ref_from_parts(bucket, string_value(args["file_path"]) or "") if bucket else None
        if not table_name or source is None:
            builder.diag("unrecognized_export", Severity.WARNING,
                         "table_import_from_s3 call whose table or S3 source is not a literal", penalty=0.5)
            continue
        target = _table_from_string(table_name, stmt)
        listed = [c.strip() for c in (string_value(args["column_list"]) or "").split(",") if c.strip()]
        columns = [stmt.ctx.fold(c.strip('"')) if not c.startswith('"') else c.strip('"') for c in listed]
        builder.file_format = _format_of(string_value(args["options"]), source.name)
        _positional_load(builder, source, target, [c for c in columns if c])


def _table_from_string(name: str, stmt: Statement) -> DatasetRef:
    parsed = parse_statement(f"SELECT 1 FROM {name}", stmt.ctx.dialect)
    table = parsed.tree.find(exp.Table) if parsed.tree is not None else None
    if table is None:
        return stmt.ctx.table_ref(stmt.ctx.qualify_parts(None, None, name))
    return stmt.ctx.table_ref(stmt.ctx.table_parts(table))


def _positional_load(builder: Builder, source: DatasetRef, target: DatasetRef, explicit: list[str]) -> None:
    """File field $i → target column i (CSV/text loads, pg_parquet's default match_by)."""
    builder.add_input(source)
    builder.add_output(target)
    columns = insert_columns(builder, target, explicit or None)
    for i, column in enumerate(columns or (), start=1):
        builder.add_edge(target, column, Projection(column, {ColumnRef(source, f"${i}")}, "positional"))


def copy_export(stmt: Statement, builder: Builder) -> None:
    """``COPY table|(query) TO PROGRAM '… s3://…'`` or ``TO 's3://…'`` (pg_parquet)."""
    tree = stmt.tree
    target = _copy_location(stmt, tree.args.get("files") or [])
    if target is None:
        builder.diag("no_s3_target", Severity.INFO,
                     "COPY TO PROGRAM whose command names no s3:// URL: nothing reaches S3 that we can see",
                     penalty=0.0)
        _copy_reads(stmt, builder)
        return
    builder.file_format = _copy_format(tree, target.name)
    source = tree.this
    if isinstance(source, exp.Subquery):
        _export_query(builder, source.this, target)
        return
    table, explicit = target_table(source, stmt.ctx)
    copy_whole_table(builder, table, target, explicit)


def copy_import(stmt: Statement, builder: Builder) -> None:
    """``COPY t [(cols)] FROM 's3://…' | PROGRAM 'aws s3 cp s3://… -'``."""
    tree = stmt.tree
    source = _copy_location(stmt, tree.args.get("files") or [])
    target, explicit = target_table(tree.this, stmt.ctx)
    if source is None:
        builder.diag("unrecognized_export", Severity.WARNING,
                     "COPY FROM PROGRAM without an s3:// URL in the command", penalty=0.5)
        return
    builder.file_format = _copy_format(tree, source.name)
    _positional_load(builder, source, target, explicit or [])


def copy_without_s3(stmt: Statement, builder: Builder) -> None:
    """``COPY … TO STDOUT`` / a server file / FROM STDIN: nothing reaches S3 that we can see."""
    shape = stmt.shape
    builder.diag(
        "no_s3_target",
        Severity.INFO,
        f"COPY {shape.copy_from} → {shape.copy_to}: no S3 location in the statement "
        "(psql's \\copy sends only TO STDOUT to the server; its destination is client-side)",
        penalty=0.0,
    )
    if shape.copy_to in ("stdout", "file", "program"):
        _copy_reads(stmt, builder)


def _copy_reads(stmt: Statement, builder: Builder) -> None:
    source = stmt.tree.this
    if isinstance(source, exp.Subquery):
        builder.absorb(trace_query(source.this, stmt.ctx))
    elif isinstance(source, (exp.Table, exp.Schema)):
        builder.add_input(target_table(source, stmt.ctx)[0])


def _copy_location(stmt: Statement, files: list[exp.Expr]) -> DatasetRef | None:
    """The S3 object of ``TO|FROM 's3://…'``, or the first s3:// URL of a PROGRAM command
    (the parser adapter turned ``PROGRAM 'cmd'`` into the literal ``'<PROGRAM_PREFIX>cmd'``)."""
    value = string_value(files[0]) if files else None
    if not value:
        return None
    if value.startswith(PROGRAM_PREFIX):
        urls = find_s3_urls(value[len(PROGRAM_PREFIX):])
        return s3_ref(urls[0]) if urls else None
    return s3_ref(value)


def _copy_format(tree: exp.Copy, key: str) -> str:
    for param in tree.args.get("params") or []:
        name = param.this.name.upper() if param.this is not None else ""
        if name == "FORMAT" and param.args.get("expression") is not None:
            return param.expression.name.lower()
        text = param.sql().lower()
        match = re.search(r"\bformat\s*'?\"?(\w+)", text)
        if match:
            return match.group(1)
    return _format_of(None, key)
