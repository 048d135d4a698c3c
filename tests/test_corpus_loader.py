"""The golden corpus itself: the loader parses every file and the fixtures are self-consistent.

These tests need no resolver, so they run before ``s3lineage.resolve.api`` exists.
"""

from __future__ import annotations

import logging
import sys
from collections import Counter
from pathlib import Path

import pytest
import sqlglot

_HERE = str(Path(__file__).resolve().parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)

from corpus import (
    DIALECTS,
    CorpusError,
    corpus_files,
    dataset_name,
    load_cases,
    load_file,
    parse_cases,
)

CASES = load_cases()


def test_every_file_loads_and_has_cases() -> None:
    files = corpus_files()
    assert {p.parent.name for p in files} == set(DIALECTS)
    for path in files:
        assert load_file(path), f"{path} holds no case"


def test_case_count_and_balance() -> None:
    assert len(CASES) >= 120
    per_dialect = Counter(c.dialect for c in CASES)
    for dialect in DIALECTS:
        assert per_dialect[dialect] >= 0.4 * len(CASES), per_dialect


def test_ids_are_unique() -> None:
    ids = [c.id for c in CASES]
    assert len(ids) == len(set(ids))


def test_diagnostic_cases_cover_every_code() -> None:
    codes = Counter(code for c in CASES for code in c.diagnostics)
    for code in (
        "parse_error",
        "no_s3_target",
        "internal_stage",
        "normalized_parameters",
        "unknown_columns",
    ):
        assert codes[code] >= 1, code
    assert sum(1 for c in CASES if c.diagnostics) >= 10


def _display_ok(name: str) -> bool:
    if name.startswith("s3://"):
        bucket, _, key = name[5:].partition("/")
        return bool(bucket) and bool(key)
    if name.startswith("@"):
        return "/" in name and not name.startswith(("@~", "@%"))
    return "/" not in name and all(name.split("."))


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_case_is_self_consistent(case) -> None:
    for name in case.inputs | case.outputs:
        assert _display_ok(name), f"{case.where}: odd dataset display name {name!r}"
    in_names = [dataset_name(n) for n in case.inputs]
    out_names = [dataset_name(n) for n in case.outputs]
    for target, sources in case.columns or ():
        if out_names:
            assert any(target.startswith(o + ".") and target != o + "." for o in out_names), (
                f"{case.where}: target {target!r} is not a column of an output {out_names}"
            )
        else:
            assert "." not in target, f"{case.where}: bare SELECT target {target!r} has a dataset"
        for src in sources:
            assert any(src.startswith(i + ".") and src != i + "." for i in in_names), (
                f"{case.where}: source {src!r} is not a column of an input {in_names}"
            )
    if "parse_error" in case.diagnostics:
        assert not case.inputs and not case.outputs and case.columns == frozenset()


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_fixture_sql_parses_unless_marked_garbage(case, caplog) -> None:
    """Our parser adapter (pinned sqlglot plus its workarounds) accepts every statement,
    and rejects at least one of those marked parse_error."""
    from s3lineage.model import Dialect
    from s3lineage.resolve.sqlglot_adapter import parse_statement, split_statements

    caplog.set_level(logging.ERROR, logger="sqlglot")
    from s3lineage.resolve.resolver import is_transaction_control

    dialect = Dialect(case.dialect)
    pieces = [p for p in split_statements(case.sql, dialect) if not is_transaction_control(p)]
    parsed = [parse_statement(piece, dialect) for piece in pieces]
    if "parse_error" in case.diagnostics:
        assert any(p.tree is None for p in parsed)
    else:
        assert parsed and all(p.tree is not None for p in parsed), [p.error for p in parsed]


# --- the loader on small inline texts ---------------------------------------------------------

GOOD = """\
-- preamble comments are fine

-- case: one
-- default_database: appdb
-- search_path: staging, public
-- schema: appdb.public.users = id, email
-- inputs: appdb.public.users
-- outputs: s3://b/k.csv
-- column: k.csv.id <- appdb.public.users.id
-- column: k.csv.both <- appdb.public.users.id, appdb.public.users.email
-- diagnostics: a_code, other_code
-- a plain SQL comment stays in the SQL
SELECT 1;

-- case: two
-- inputs: none
-- outputs: none
-- columns: none
SELECT 2;
"""


def test_loader_parses_metadata_and_sql() -> None:
    one, two = parse_cases(GOOD, dialect="postgres", stem="inline")
    assert one.id == "postgres/inline:one" and one.line == 3
    assert one.default_database == "appdb" and one.default_schema is None
    assert one.search_path == ["staging", "public"]
    assert one.schema == {"appdb.public.users": ["id", "email"]}
    assert one.inputs == {"appdb.public.users"} and one.outputs == {"s3://b/k.csv"}
    assert one.columns == {
        ("k.csv.id", frozenset({"appdb.public.users.id"})),
        ("k.csv.both", frozenset({"appdb.public.users.id", "appdb.public.users.email"})),
    }
    assert one.diagnostics == {"a_code", "other_code"}
    assert one.sql == "-- a plain SQL comment stays in the SQL\nSELECT 1;"
    assert two.columns == frozenset() and not two.inputs and not two.outputs
    assert two.explain_kwargs() == {
        "default_database": None,
        "default_schema": None,
        "search_path": None,
        "schema": None,
    }
    assert one.explain_kwargs()["schema"] == {"appdb.public.users": ["id", "email"]}


def test_columns_unchecked_without_column_lines() -> None:
    (case,) = parse_cases(
        "-- case: x\n-- inputs: a.b.c\n-- outputs: none\nSELECT 1;", dialect="snowflake", stem="s"
    )
    assert case.columns is None


@pytest.mark.parametrize(
    "text",
    [
        "SELECT 1;\n-- case: x\n-- inputs: none\n-- outputs: none\nSELECT 1;",  # SQL before case
        "-- case: x\n-- outputs: none\nSELECT 1;",  # no inputs
        "-- case: x\n-- inputs: none\nSELECT 1;",  # no outputs
        "-- case: x\n-- inputs: none\n-- outputs: none\n",  # no SQL
        "-- case: x\n-- inputs: none\n-- outputs: none\n-- column: a b\nSELECT 1;",
        "-- case: x\n-- inputs: none\n-- outputs: none\n-- column: a <- \nSELECT 1;",
        (
            "-- case: x\n-- inputs: none\n-- outputs: none\n"
            "-- columns: none\n-- column: a <- b.c\nSELECT 1;"
        ),
        "-- case: x\n-- inputs: none\n-- outputs: none\n-- columns: some\nSELECT 1;",
        "-- case: x\n-- inputs: none\n-- inputs: none\n-- outputs: none\nSELECT 1;",
        "-- case: x\n-- inputs: none\n-- outputs: none\n-- schema: a.b.c\nSELECT 1;",
        "-- case: x\n-- inputs: a,,b\n-- outputs: none\nSELECT 1;",
        (  # duplicate name
            "-- case: x\n-- inputs: none\n-- outputs: none\nSELECT 1;\n"
            "-- case: x\n-- inputs: none\n-- outputs: none\nSELECT 2;"
        ),
        "-- case: bad name\n-- inputs: none\n-- outputs: none\nSELECT 1;",
    ],
)
def test_loader_rejects_malformed(text: str) -> None:
    with pytest.raises(CorpusError):
        parse_cases(text, dialect="postgres", stem="bad")


def test_loader_rejects_unknown_dialect() -> None:
    with pytest.raises(CorpusError):
        parse_cases(
            "-- case: x\n-- inputs: none\n-- outputs: none\nSELECT 1;", dialect="mysql", stem="x"
        )
