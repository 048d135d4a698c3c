"""Golden corpus: hand-derived lineage for Postgres and Snowflake statements.

Every case in ``fixtures/resolver/<dialect>/*.sql`` (see ``tests/corpus.py`` for the file
format) is run through :func:`s3lineage.resolve.api.explain` and compared:

- inputs and outputs: exact sets of display names (table → name, s3 → ``s3://bucket/key``,
  stage → ``@DB.SCH.STG/path``);
- columns (only when the case lists ``column:`` lines or ``columns: none``): the exact set of
  ``(target, frozenset(sources))`` direct mappings;
- diagnostics: the listed codes must be a subset of the returned codes.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

# tests/ is not a package and pytest runs with --import-mode=importlib: make the helper importable.
_HERE = str(Path(__file__).resolve().parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)

from corpus import Case, actual_columns, display_name, load_cases

api = pytest.importorskip("s3lineage.resolve.api", reason="s3lineage.resolve.api not written yet")

CASES = load_cases()


def test_corpus_has_enough_cases() -> None:
    assert len(CASES) >= 120, f"only {len(CASES)} corpus cases"


def _diff(label: str, expected: frozenset, actual: frozenset) -> list[str]:
    if expected == actual:
        return []
    lines = [f"{label} differ:"]
    for item in sorted(expected - actual, key=repr):
        lines.append(f"  missing: {_fmt(item)}")
    for item in sorted(actual - expected, key=repr):
        lines.append(f"  extra:   {_fmt(item)}")
    return lines


def _fmt(item: object) -> str:
    if isinstance(item, tuple) and len(item) == 2 and isinstance(item[1], frozenset):
        return f"{item[0]} <- {', '.join(sorted(item[1])) or '(nothing)'}"
    return str(item)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_resolver_case(case: Case) -> None:
    result = api.explain(case.sql, case.dialect, **case.explain_kwargs())

    inputs = frozenset(display_name(d) for d in result.get("inputs") or ())
    outputs = frozenset(display_name(d) for d in result.get("outputs") or ())
    codes = frozenset(d["code"] for d in result.get("diagnostics") or ())

    problems: list[str] = []
    problems += _diff("inputs", case.inputs, inputs)
    problems += _diff("outputs", case.outputs, outputs)
    if case.columns is not None:
        problems += _diff("columns", case.columns, actual_columns(result))
    missing_codes = case.diagnostics - codes
    if missing_codes:
        problems.append(f"diagnostics missing: {sorted(missing_codes)} (got {sorted(codes)})")

    if problems:
        pytest.fail(
            "\n".join(
                [
                    f"{case.id} ({case.where})",
                    *problems,
                    "SQL:",
                    case.sql,
                    "explain() returned:",
                    json.dumps(result, indent=2, default=str),
                ]
            ),
            pytrace=False,
        )
