"""Loader for the hand-derived resolver golden corpus in ``fixtures/resolver/<dialect>/*.sql``.

One file holds many cases. A case starts at a ``-- case: <name>`` line and runs until the
next one. Lines of the form ``-- <key>: <value>`` with a known key are metadata; every other
line (including ordinary ``--`` comments) is part of the SQL handed to the resolver::

    -- case: export_named_options
    -- default_database: appdb
    -- default_schema: public                          (optional)
    -- search_path: staging, public                    (optional, Postgres)
    -- schema: appdb.public.users = id, email          (optional, repeatable, ordered columns)
    -- inputs: appdb.public.users                      (comma-separated display names, or none)
    -- outputs: s3://my-bucket/exports/users.csv       (comma-separated display names, or none)
    -- column: exports/users.csv.id <- appdb.public.users.id      (repeatable; sources a, b)
    -- columns: none                                   (asserts there are no direct mappings)
    -- diagnostics: no_s3_target                       (codes that must be present)
    -- note: free text, ignored by the comparison
    SELECT ...;

The dialect is the name of the directory holding the file.

>>> c = parse_cases('''
... -- case: demo
... -- inputs: a.b.c
... -- outputs: none
... -- column: x <- a.b.c.x
... SELECT x FROM c;
... ''', dialect="postgres", stem="doc")
>>> c[0].id, c[0].inputs, c[0].outputs, sorted(c[0].columns)
('postgres/doc:demo', frozenset({'a.b.c'}), frozenset(), [('x', frozenset({'a.b.c.x'}))])
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

CORPUS_DIR = Path(__file__).resolve().parent.parent / "fixtures" / "resolver"
DIALECTS = ("postgres", "snowflake")

KEYS = (
    "case",
    "default_database",
    "default_schema",
    "search_path",
    "schema",
    "inputs",
    "outputs",
    "column",
    "columns",
    "diagnostics",
    "note",
)
_META = re.compile(rf"^--\s*({'|'.join(KEYS)})\s*:\s*(.*?)\s*$")


class CorpusError(ValueError):
    """A malformed corpus file (reported with file:line)."""


@dataclass(frozen=True)
class Case:
    dialect: str
    file: str  # file stem, e.g. "aws_s3_export"
    name: str
    sql: str
    line: int  # line of the "-- case:" header, 1-based
    inputs: frozenset[str]
    outputs: frozenset[str]
    # None = columns are not checked; otherwise the exact set of (target, sources) mappings.
    columns: frozenset[tuple[str, frozenset[str]]] | None = None
    diagnostics: frozenset[str] = frozenset()
    default_database: str | None = None
    default_schema: str | None = None
    search_path: list[str] | None = None
    schema: dict[str, list[str]] | None = None
    note: str = ""
    path: str = field(default="", compare=False)

    @property
    def id(self) -> str:
        return f"{self.dialect}/{self.file}:{self.name}"

    @property
    def where(self) -> str:
        return f"{self.path}:{self.line}"

    def explain_kwargs(self) -> dict:
        """Keyword arguments for ``s3lineage.resolve.api.explain``."""
        return {
            "default_database": self.default_database,
            "default_schema": self.default_schema,
            "search_path": list(self.search_path) if self.search_path is not None else None,
            "schema": {k: list(v) for k, v in self.schema.items()} if self.schema else None,
        }


def _names(value: str) -> frozenset[str]:
    if value.strip().lower() == "none":
        return frozenset()
    names = [p.strip() for p in value.split(",")]
    if any(not n for n in names):
        raise ValueError(f"empty name in {value!r}")
    return frozenset(names)


def _column(value: str) -> tuple[str, frozenset[str]]:
    target, arrow, sources = value.partition("<-")
    target = target.strip()
    if not arrow or not target or " " in target:
        raise ValueError(f"expected 'target <- source[, source…]', got {value!r}")
    srcs = _names(sources)
    if not srcs:
        raise ValueError(f"column {target!r} has no sources (leave constants out instead)")
    return target, srcs


def _schema(value: str) -> tuple[str, list[str]]:
    table, eq, cols = value.partition("=")
    table = table.strip()
    columns = [c.strip() for c in cols.split(",")]
    if not eq or not table or any(not c for c in columns):
        raise ValueError(f"expected 'db.schema.table = col, col…', got {value!r}")
    return table, columns


def _build(dialect: str, stem: str, path: str, line: int, meta: dict, sql_lines: list[str]) -> Case:
    name = meta["case"]
    for required in ("inputs", "outputs"):
        if required not in meta:
            raise ValueError(f"case {name!r} lacks '-- {required}:'")
    sql = "\n".join(sql_lines).strip()
    if not sql:
        raise ValueError(f"case {name!r} has no SQL")
    columns = None
    if "columns" in meta:
        if meta["columns"].lower() != "none":
            raise ValueError("'-- columns:' only accepts 'none'")
        if meta.get("column"):
            raise ValueError("'-- columns: none' and '-- column:' lines are exclusive")
        columns = frozenset()
    elif meta.get("column"):
        columns = frozenset(meta["column"])
        if len(columns) != len(meta["column"]):
            raise ValueError(f"case {name!r} repeats a column line")
    search_path = None
    if "search_path" in meta:
        search_path = [s.strip() for s in meta["search_path"].split(",") if s.strip()]
    schema = dict(meta["schema"]) if meta.get("schema") else None
    diagnostics = frozenset()
    if meta.get("diagnostics"):
        diagnostics = frozenset(d.strip() for d in meta["diagnostics"].split(",") if d.strip())
    return Case(
        dialect=dialect,
        file=stem,
        name=name,
        sql=sql,
        line=line,
        inputs=_names(meta["inputs"]),
        outputs=_names(meta["outputs"]),
        columns=columns,
        diagnostics=diagnostics,
        default_database=meta.get("default_database") or None,
        default_schema=meta.get("default_schema") or None,
        search_path=search_path,
        schema=schema,
        note=" ".join(meta.get("note", [])),
        path=path,
    )


def parse_cases(text: str, *, dialect: str, stem: str, path: str = "<string>") -> list[Case]:
    """Parse one corpus file's text into cases (raises CorpusError with file:line)."""
    if dialect not in DIALECTS:
        raise CorpusError(f"{path}: unknown dialect {dialect!r}")
    cases: list[Case] = []
    names: set[str] = set()
    meta: dict | None = None
    start = 0
    sql_lines: list[str] = []

    def flush() -> None:
        if meta is None:
            return
        try:
            case = _build(dialect, stem, path, start, meta, sql_lines)
        except ValueError as exc:
            raise CorpusError(f"{path}:{start}: {exc}") from None
        if case.name in names:
            raise CorpusError(f"{path}:{start}: duplicate case name {case.name!r}")
        names.add(case.name)
        cases.append(case)

    for lineno, raw in enumerate(text.splitlines(), start=1):
        match = _META.match(raw.strip())
        if match and match.group(1) == "case":
            flush()
            name = match.group(2)
            if not re.fullmatch(r"[A-Za-z0-9_]+", name):
                raise CorpusError(f"{path}:{lineno}: bad case name {name!r}")
            meta, start, sql_lines = (
                {"case": name, "column": [], "schema": [], "note": []},
                lineno,
                [],
            )
            continue
        if meta is None:  # file preamble: comments and blank lines only
            if raw.strip() and not raw.strip().startswith("--"):
                raise CorpusError(f"{path}:{lineno}: SQL before the first '-- case:' line")
            continue
        if match:
            key, value = match.groups()
            try:
                if key == "column":
                    meta["column"].append(_column(value))
                elif key == "schema":
                    meta["schema"].append(_schema(value))
                elif key == "note":
                    meta["note"].append(value)
                else:
                    if key in meta:
                        raise ValueError(f"'-- {key}:' given twice")
                    meta[key] = value
            except ValueError as exc:
                raise CorpusError(f"{path}:{lineno}: {exc}") from None
            continue
        sql_lines.append(raw)
    flush()
    return cases


def load_file(path: Path) -> list[Case]:
    dialect = path.parent.name
    return parse_cases(
        path.read_text(encoding="utf-8"), dialect=dialect, stem=path.stem, path=str(path)
    )


def corpus_files(root: Path = CORPUS_DIR) -> list[Path]:
    return sorted(p for d in DIALECTS for p in (root / d).glob("*.sql"))


def load_cases(root: Path = CORPUS_DIR) -> list[Case]:
    """Every case of the corpus, in file order (Postgres first, then Snowflake)."""
    cases: list[Case] = []
    for path in corpus_files(root):
        cases.extend(load_file(path))
    return cases


# ---------------------------------------------------------------------------------------------
# Turning an ``explain()`` result into the comparable shape.


def display_name(ds: dict) -> str:
    """An ``{"namespace", "name", "kind"}`` dataset as the corpus writes it."""
    kind = ds.get("kind")
    if kind == "s3":
        return f"{ds['namespace']}/{ds['name']}"
    if kind == "stage":
        return f"@{ds['name']}"
    return ds["name"]


def dataset_name(display: str) -> str:
    """Display name → the dataset *name* used as prefix of column strings.

    >>> dataset_name("s3://bucket/exports/users.csv"), dataset_name("@DB.SCH.STG/p/")
    ('exports/users.csv', 'DB.SCH.STG/p/')
    >>> dataset_name("appdb.public.users")
    'appdb.public.users'
    """
    if display.startswith("s3://"):
        _, _, key = display[5:].partition("/")
        return key or "/"
    if display.startswith("@"):
        return display[1:]
    return display


def actual_columns(result: dict) -> frozenset[tuple[str, frozenset[str]]]:
    return frozenset(
        (col["target"], frozenset(col.get("sources") or ())) for col in result.get("columns") or ()
    )
