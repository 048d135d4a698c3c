"""The idiom catalogue: ``parsers/**/*.toml``, one recognizer per file (path = id).

Each file names a dialect, a handler (see :mod:`s3lineage.resolve.handlers`), match
conditions over a closed set of keys (:data:`~s3lineage.resolve.shape.MATCH_KEYS`) and at
least one ``[[example]]`` that the test suite runs. Users add directories of their own
files through ``[resolver] idiom_dirs`` in lineage.toml; a user file with the same id
replaces the bundled one.

File format::

    title = "aws_s3.query_export_to_s3 (RDS/Aurora)"
    dialect = "postgres"              # or ["postgres", "snowflake"]
    handler = "pg_query_export_to_s3"
    priority = 10                     # lower is tried first (default 100)
    docs = "https://…"                # optional: the vendor syntax page
    description = "…"                 # optional

    [match]                           # every key given must hold; list values mean "any of"
    statement = ["select"]
    function = ["aws_s3.query_export_to_s3"]

    [[example]]
    sql = "SELECT …"
    default_database = "appdb"        # optional context: default_schema, search_path
    schema = { "appdb.public.users" = ["id", "email"] }   # optional catalog
    inputs = ["appdb.public.users"]   # display names
    outputs = ["s3://bucket/key.csv"]
    columns = { "key.csv.id" = ["appdb.public.users.id"] }   # optional, exact when given
    diagnostics = ["no_s3_target"]    # optional, must be present
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from s3lineage.errors import CatalogueError
from s3lineage.model import Dialect
from s3lineage.resolve.handlers import HANDLERS
from s3lineage.resolve.shape import COPY_ENDPOINTS, MATCH_KEYS, STATEMENT_KINDS, Shape

_TOP_KEYS = {"title", "dialect", "handler", "priority", "docs", "description", "match", "example"}
_EXAMPLE_KEYS = {
    "name", "dialect", "sql", "default_database", "default_schema", "search_path", "schema",
    "inputs", "outputs", "columns", "diagnostics",
}


@dataclass(frozen=True, slots=True)
class Example:
    sql: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    columns: dict[str, tuple[str, ...]] | None = None
    diagnostics: tuple[str, ...] = ()
    default_database: str | None = None
    default_schema: str | None = None
    search_path: tuple[str, ...] = ()
    schema: dict[str, list[str]] = field(default_factory=dict)
    name: str = ""
    dialect: Dialect | None = None  # required when the recognizer serves several dialects


@dataclass(frozen=True, slots=True)
class Recognizer:
    id: str
    title: str
    dialects: frozenset[Dialect]
    handler: str
    match: dict[str, Any]
    examples: tuple[Example, ...]
    priority: int = 100
    docs: str | None = None
    description: str = ""
    path: Path | None = None

    def matches(self, dialect: Dialect, shape: Shape, text: str) -> bool:
        if dialect not in self.dialects:
            return False
        for key, wanted in self.match.items():
            if key == "statement" and shape.statement not in wanted:
                return False
            if key == "function" and not (shape.functions & set(wanted)):
                return False
            if key == "copy_from" and shape.copy_from not in wanted:
                return False
            if key == "copy_to" and shape.copy_to not in wanted:
                return False
            if key == "reads_stage" and shape.reads_stage is not wanted:
                return False
            if key == "text" and not wanted.search(text):
                return False
        return True


def bundled_dir() -> Path:
    """The packaged catalogue (a symlink to the repo's parsers/ in a checkout)."""
    return Path(str(resources.files("s3lineage") / "parsers"))


def load_catalogue(extra_dirs: list[Path] | tuple[Path, ...] = ()) -> list[Recognizer]:
    """All recognizers, bundled first then user dirs (same id replaces), by priority."""
    by_id: dict[str, Recognizer] = {}
    for root in (bundled_dir(), *extra_dirs):
        if not root.is_dir():
            raise CatalogueError(f"idiom directory not found: {root}")
        for path in sorted(root.rglob("*.toml")):
            recognizer = load_recognizer(path, root)
            by_id[recognizer.id] = recognizer
    return sorted(by_id.values(), key=lambda r: (r.priority, r.id))


def load_recognizer(path: Path, root: Path) -> Recognizer:
    rid = path.relative_to(root).with_suffix("").as_posix()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as err:
        raise CatalogueError(f"{path}: {err}") from err
    unknown = set(data) - _TOP_KEYS
    if unknown:
        raise CatalogueError(f"{path}: unknown key(s) {sorted(unknown)}; allowed: {sorted(_TOP_KEYS)}")
    for key in ("title", "dialect", "handler", "match", "example"):
        if key not in data:
            raise CatalogueError(f"{path}: missing required key '{key}'")
    if data["handler"] not in HANDLERS:
        raise CatalogueError(f"{path}: handler '{data['handler']}' does not exist; known: {sorted(HANDLERS)}")
    dialects = data["dialect"] if isinstance(data["dialect"], list) else [data["dialect"]]
    try:
        dialect_set = frozenset(Dialect(d) for d in dialects)
    except ValueError as err:
        raise CatalogueError(f"{path}: {err}") from err
    examples = data["example"]
    if not isinstance(examples, list) or not examples:
        raise CatalogueError(f"{path}: at least one [[example]] is required")
    if len(dialect_set) > 1 and any(isinstance(e, dict) and "dialect" not in e for e in examples):
        raise CatalogueError(f"{path}: examples of a multi-dialect recognizer need 'dialect'")
    return Recognizer(
        id=rid,
        title=str(data["title"]),
        dialects=dialect_set,
        handler=data["handler"],
        match=_validate_match(data["match"], path),
        examples=tuple(_example(e, path, i) for i, e in enumerate(examples, start=1)),
        priority=int(data.get("priority", 100)),
        docs=data.get("docs"),
        description=str(data.get("description", "")).strip(),
        path=path,
    )


def _validate_match(match: Any, path: Path) -> dict[str, Any]:
    if not isinstance(match, dict):
        raise CatalogueError(f"{path}: [match] must be a table")
    result: dict[str, Any] = {}
    for key, value in match.items():
        if key not in MATCH_KEYS:
            raise CatalogueError(f"{path}: unknown match key '{key}'; allowed: {list(MATCH_KEYS)}")
        if key == "reads_stage":
            result[key] = bool(value)
            continue
        if key == "text":
            try:
                result[key] = re.compile(str(value), re.IGNORECASE | re.DOTALL)
            except re.error as err:
                raise CatalogueError(f"{path}: match.text is not a valid regex: {err}") from err
            continue
        values = value if isinstance(value, list) else [value]
        allowed = {"statement": STATEMENT_KINDS, "copy_from": COPY_ENDPOINTS, "copy_to": COPY_ENDPOINTS}
        if key in allowed:
            bad = [v for v in values if v not in allowed[key]]
            if bad:
                raise CatalogueError(f"{path}: match.{key} values {bad} not in {list(allowed[key])}")
        result[key] = frozenset(str(v).lower() for v in values)
    return result


def _example(data: Any, path: Path, index: int) -> Example:
    if not isinstance(data, dict) or "sql" not in data:
        raise CatalogueError(f"{path}: example {index} needs at least 'sql'")
    unknown = set(data) - _EXAMPLE_KEYS
    if unknown:
        raise CatalogueError(f"{path}: example {index} has unknown key(s) {sorted(unknown)}")
    columns = data.get("columns")
    return Example(
        sql=data["sql"].strip(),
        inputs=tuple(data.get("inputs", [])),
        outputs=tuple(data.get("outputs", [])),
        columns={k: tuple(v) for k, v in columns.items()} if columns is not None else None,
        diagnostics=tuple(data.get("diagnostics", [])),
        default_database=data.get("default_database"),
        default_schema=data.get("default_schema"),
        search_path=tuple(data.get("search_path", [])),
        schema=dict(data.get("schema", {})),
        name=data.get("name", f"example{index}"),
        dialect=Dialect(data["dialect"]) if "dialect" in data else None,
    )


def render_markdown(recognizers: list[Recognizer]) -> str:
    """docs/recognizers.md, generated (``s3lineage recognizers --markdown``)."""
    lines = [
        "# Recognized idioms",
        "",
        "Generated from `parsers/` by `s3lineage recognizers --markdown > docs/recognizers.md`;",
        "a test fails when this file is stale. Recognizers are tried in priority order;",
        "the first whose `[match]` holds resolves the statement.",
        "",
        "| id | dialect | handler | priority | matches |",
        "|---|---|---|---|---|",
    ]
    for r in recognizers:
        lines.append(
            f"| [`{r.id}`](#{_anchor(r.id)}) | {', '.join(sorted(d.value for d in r.dialects))} "
            f"| `{r.handler}` | {r.priority} | {_describe_match(r.match)} |"
        )
    for r in recognizers:
        lines += ["", f"## {r.id}", "", f"**{r.title}**", ""]
        if r.description:
            lines += [r.description, ""]
        if r.docs:
            lines += [f"Vendor syntax: <{r.docs}>", ""]
        for example in r.examples:
            lines += ["```sql", example.sql, "```", ""]
            lines.append(f"- inputs: {', '.join(f'`{i}`' for i in example.inputs) or '(none)'}")
            lines.append(f"- outputs: {', '.join(f'`{o}`' for o in example.outputs) or '(none)'}")
            for target, sources in (example.columns or {}).items():
                lines.append(f"- `{target}` ← {', '.join(f'`{s}`' for s in sources)}")
            if example.diagnostics:
                lines.append(f"- diagnostics: {', '.join(f'`{d}`' for d in example.diagnostics)}")
            lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def _anchor(rid: str) -> str:
    return re.sub(r"[^a-z0-9_-]", "", rid.lower().replace("/", ""))


def _describe_match(match: dict[str, Any]) -> str:
    parts = []
    for key, value in match.items():
        if key == "text":
            parts.append(f"text ~ `{value.pattern}`")
        elif isinstance(value, bool):
            parts.append(f"{key} = {str(value).lower()}")
        else:
            parts.append(f"{key} ∈ {{{', '.join(sorted(value))}}}")
    return "; ".join(parts)
