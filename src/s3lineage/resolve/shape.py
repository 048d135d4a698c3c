"""Classify a parsed statement into the small vocabulary that idiom files match on.

The match keys of ``parsers/*.toml`` (see :data:`MATCH_KEYS`) are answered from a
:class:`Shape`, computed once per statement.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from s3lineage.resolve.sqlglot_adapter import PROGRAM_PREFIX, exp

MATCH_KEYS = ("statement", "function", "copy_from", "copy_to", "reads_stage", "text")

STATEMENT_KINDS = (
    "select", "select_into", "insert", "insert_multi", "update", "delete", "merge", "copy",
    "create_table", "create_table_as", "create_view", "create_stage", "create_pipe",
    "create_external_table", "create_other", "use", "set", "command", "other",
)
COPY_ENDPOINTS = (
    "table", "query", "s3", "stage", "internal_stage", "program", "stdout", "stdin", "file",
)

_CREATE_PIPE = re.compile(r"^\s*CREATE\s+(?:OR\s+REPLACE\s+)?PIPE\b", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Shape:
    statement: str
    functions: frozenset[str] = frozenset()
    copy_from: str | None = None
    copy_to: str | None = None
    reads_stage: bool = False


def classify(tree: exp.Expr, text: str) -> Shape:
    statement = _statement_kind(tree, text)
    copy_from = copy_to = None
    if isinstance(tree, exp.Copy):
        copy_from, copy_to = copy_endpoints(tree)
    return Shape(
        statement=statement,
        functions=_functions(tree),
        copy_from=copy_from,
        copy_to=copy_to,
        reads_stage=_reads_stage(tree),
    )


def _statement_kind(tree: exp.Expr, text: str) -> str:
    if isinstance(tree, exp.Select):
        return "select_into" if tree.args.get("into") is not None else "select"
    if isinstance(tree, (exp.SetOperation, exp.Subquery)):
        return "select"
    simple = {
        exp.MultitableInserts: "insert_multi",
        exp.Insert: "insert", exp.Update: "update", exp.Delete: "delete", exp.Merge: "merge",
        exp.Copy: "copy", exp.Use: "use", exp.Set: "set",
    }
    for node_type, kind in simple.items():
        if isinstance(tree, node_type):
            return kind
    if isinstance(tree, exp.Create):
        return _create_kind(tree)
    if isinstance(tree, exp.Command):
        if _CREATE_PIPE.match(text):
            return "create_pipe"
        if str(tree.this).upper() == "SET":
            return "set"
        return "command"
    return "other"


def _create_kind(tree: exp.Create) -> str:
    kind = str(tree.args.get("kind") or "").upper()
    if kind == "STAGE":
        return "create_stage"
    if kind == "VIEW":
        return "create_view"
    if kind == "TABLE":
        properties = tree.args.get("properties")
        if properties is not None and any(
            isinstance(p, (exp.ExternalProperty, exp.LocationProperty))
            for p in properties.expressions
        ):
            return "create_external_table"
        return "create_table_as" if tree.args.get("expression") is not None else "create_table"
    return "create_other"


def function_name(func: exp.Expr) -> str:
    """Lower-cased name of a function call, quoted (``"create_s3_uri"``) or not."""
    this = func.this
    return (this.name if isinstance(this, exp.Identifier) else str(this)).lower()


def _functions(tree: exp.Expr) -> frozenset[str]:
    names: set[str] = set()
    for func in tree.find_all(exp.Anonymous):
        name = function_name(func)
        parent = func.parent
        if isinstance(parent, exp.Dot) and isinstance(parent.this, exp.Identifier):
            names.add(f"{parent.this.name.lower()}.{name}")
        elif isinstance(parent, exp.Table) and parent.args.get("db") is not None:
            names.add(f"{parent.db.lower()}.{name}")
        names.add(name)
    return frozenset(names)


def _reads_stage(tree: exp.Expr) -> bool:
    return any(
        isinstance(t.this, exp.Var) and t.this.name.startswith("@")
        for t in tree.find_all(exp.Table)
    )


def endpoint_of(node: exp.Expr | None) -> str | None:
    """What a COPY source/target node is: table, query, s3, stage, program, …"""
    if node is None:
        return None
    if isinstance(node, exp.Schema):
        node = node.this
    if isinstance(node, (exp.Subquery, exp.Query)):
        return "query"
    if isinstance(node, exp.Table):
        inner = node.this
        if isinstance(inner, (exp.Var, exp.Literal)):
            return _location_kind(inner.name)
        return "table"
    if isinstance(node, exp.Identifier):
        word = node.name.upper()
        return {"PROGRAM": "program", "STDOUT": "stdout", "STDIN": "stdin"}.get(word, "table")
    if isinstance(node, (exp.Literal, exp.Var)):
        return _location_kind(node.name)
    return None


def _location_kind(text: str) -> str:
    if text.startswith(PROGRAM_PREFIX):
        return "program"
    lowered = text.strip().lower()
    if lowered.startswith("@~") or lowered.startswith("@%"):
        return "internal_stage"
    if lowered.startswith("@"):
        return "stage"
    if lowered.startswith(("s3://", "s3a://", "s3n://")):
        return "s3"
    return "file"


def copy_endpoints(tree: exp.Copy) -> tuple[str | None, str | None]:
    """(source kind, target kind) of a COPY, whichever dialect wrote it.

    sqlglot sets ``kind=True`` ("FROM") for both Snowflake loads and unloads, so the
    direction comes from what ``this`` is: a location means an unload.
    """
    files = tree.args.get("files") or []
    other = endpoint_of(files[0]) if files else None
    this = endpoint_of(tree.this)
    if tree.args.get("kind"):  # … FROM …
        if this in ("stage", "s3", "internal_stage", "file"):
            return other, this  # Snowflake unload: COPY INTO <location> FROM <table|query>
        return other, this
    return this, other  # Postgres COPY <table|query> TO <target>
