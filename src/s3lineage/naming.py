"""Dataset naming per platform, following the OpenLineage naming spec.

- Postgres:  namespace ``postgres://host:port``, name ``db.schema.table``
- Snowflake: namespace ``snowflake://org-account``, name ``DB.SCHEMA.TABLE``
- S3:        namespace ``s3://bucket``, name = key or prefix (no leading slash)
- Stage:     namespace of the Snowflake account, name ``DB.SCHEMA.STAGE/path``

Identifier case: Postgres folds unquoted identifiers to lower case, Snowflake to upper
case; quoted identifiers are exact. https://openlineage.io/docs/spec/naming
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from s3lineage.model import DatasetKind, DatasetRef, Dialect

DEFAULT_NAMESPACE = {
    Dialect.POSTGRES: "postgres://localhost:5432",
    Dialect.SNOWFLAKE: "snowflake://default",
}

_S3_URL = re.compile(r"^(?:s3|s3a|s3n)://([^/]+)/?(.*)$", re.IGNORECASE)
# "aws s3 cp - s3://bucket/key" and friends: the first s3:// URL in a command line.
# A shell substitution ($(…), `…`, $VAR) ends the literal part: what it expands to is
# unknown, so the dataset is the key's literal prefix.
_S3_IN_TEXT = re.compile(r"""s3a?://[A-Za-z0-9.\-_]+(?:/[^\s'"|;&)>$`]*)?""")


def namespace_for(dialect: Dialect, namespace: str | None) -> str:
    return namespace or DEFAULT_NAMESPACE[dialect]


def fold_identifier(name: str, dialect: Dialect, quoted: bool) -> str:
    """Case-fold an identifier the way the database does."""
    if quoted:
        return name
    return name.upper() if dialect is Dialect.SNOWFLAKE else name.lower()


def table_ref(dialect: Dialect, namespace: str | None, *parts: str | None) -> DatasetRef:
    """A table named by its already-folded parts (missing leading parts are dropped)."""
    name = ".".join(p for p in parts if p)
    return DatasetRef(namespace_for(dialect, namespace), name, DatasetKind.TABLE)


def s3_ref(url: str) -> DatasetRef | None:
    """``s3://bucket/key`` → DatasetRef, or None when it is not an S3 URL.

    >>> s3_ref("s3://my-bucket/exports/users.csv").name
    'exports/users.csv'
    """
    match = _S3_URL.match(url.strip())
    if not match:
        return None
    bucket, key = match.group(1), match.group(2).lstrip("/")
    return DatasetRef(f"s3://{bucket}", key or "/", DatasetKind.S3)


def s3_ref_from_parts(bucket: str, key: str) -> DatasetRef:
    bucket = bucket.strip()
    if bucket.lower().startswith("s3://"):
        bucket = bucket[5:]
    bucket = bucket.strip("/")
    if "/" in bucket:  # people pass 'bucket/prefix' as the bucket
        bucket, _, extra = bucket.partition("/")
        key = f"{extra.rstrip('/')}/{key.lstrip('/')}"
    return DatasetRef(f"s3://{bucket}", key.lstrip("/") or "/", DatasetKind.S3)


def find_s3_urls(text: str) -> list[str]:
    """All s3:// URLs in free text such as an ``aws s3 cp`` command line."""
    return [m.group(0).rstrip(".,") for m in _S3_IN_TEXT.finditer(text)]


def join_s3(url: str, path: str) -> str:
    """Stage URL + relative path, as Snowflake resolves ``@stage/path``."""
    if not path:
        return url
    return url.rstrip("/") + "/" + path.lstrip("/")


@dataclass(frozen=True, slots=True)
class StagePath:
    """A parsed ``@[db.][schema.]stage[/path]`` reference."""

    parts: tuple[str, ...]  # folded identifier parts, 1–3 of them
    path: str
    kind: str  # "named" | "table" (@%t) | "user" (@~)

    @property
    def stage_name(self) -> str:
        return ".".join(self.parts)


_IDENT = r'(?:"(?:[^"]|"")*"|[^."/\s]+)'
_STAGE_HEAD = re.compile(rf"^({_IDENT}(?:\.{_IDENT}){{0,2}})(.*)$")


def parse_stage_path(text: str, dialect: Dialect = Dialect.SNOWFLAKE) -> StagePath | None:
    """Parse a stage reference as it appears after FROM/INTO.

    >>> parse_stage_path('@raw.public.s3_stage/users/2024/')
    StagePath(parts=('RAW', 'PUBLIC', 'S3_STAGE'), path='users/2024/', kind='named')
    >>> parse_stage_path('@"Db"."Sch"."Stg"/a.csv').parts
    ('Db', 'Sch', 'Stg')
    """
    ref = text.strip().strip("'")
    if not ref.startswith("@"):
        return None
    ref = ref[1:]
    if ref.startswith("~"):
        return StagePath(("~",), ref[1:].lstrip("/"), "user")
    kind = "named"
    if ref.startswith("%"):
        kind, ref = "table", ref[1:]
    match = _STAGE_HEAD.match(ref)
    if not match:
        return None
    head, rest = match.group(1), match.group(2)
    parts = tuple(_fold_part(p, dialect) for p in _split_dotted(head))
    return StagePath(parts, rest.lstrip("/"), kind)


def _split_dotted(text: str) -> list[str]:
    return re.findall(_IDENT, text)


def _fold_part(part: str, dialect: Dialect) -> str:
    if part.startswith('"') and part.endswith('"') and len(part) >= 2:
        return part[1:-1].replace('""', '"')
    return fold_identifier(part, dialect, quoted=False)


def qualify_stage(
    stage: StagePath, database: str | None, schema: str | None
) -> tuple[str, ...]:
    """Fill missing database/schema of a stage from the session context."""
    parts = stage.parts
    if len(parts) == 1:
        return tuple(p for p in (database, schema, parts[0]) if p)
    if len(parts) == 2:
        return tuple(p for p in (database, *parts) if p)
    return parts


def stage_ref(namespace: str, parts: tuple[str, ...], path: str) -> DatasetRef:
    name = ".".join(parts) + ("/" + path if path else "/")
    return DatasetRef(namespace, name, DatasetKind.STAGE)


def split_stage_name(name: str) -> tuple[str, str]:
    """``DB.SCH.STG/path`` → (``DB.SCH.STG``, ``path``)."""
    head, _, path = name.partition("/")
    return head, path
