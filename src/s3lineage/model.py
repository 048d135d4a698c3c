"""Core types shared by every stage: collect → resolve → graph → check → export.

All are frozen, slotted dataclasses so they are hashable (usable as graph keys and
cache keys) and cheap to create by the million.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum


class Dialect(StrEnum):
    POSTGRES = "postgres"
    SNOWFLAKE = "snowflake"


class DatasetKind(StrEnum):
    """What a dataset reference points at."""

    TABLE = "table"  # a Postgres/Snowflake table, view or external table
    S3 = "s3"  # an S3 object, or a prefix when the name ends with '/'
    STAGE = "stage"  # a Snowflake stage path, resolved to S3 by the graph
    QUERY = "query"  # the result set of a bare SELECT (never a graph node)


class Severity(StrEnum):
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"

    @property
    def rank(self) -> int:
        return {"info": 0, "warning": 1, "error": 2}[self.value]


class EdgeKind(StrEnum):
    """How a target column depends on its sources."""

    DIRECT = "direct"  # the value flows (possibly transformed) into the target
    INDIRECT = "indirect"  # the source only filters, joins, groups or orders rows


@dataclass(frozen=True, slots=True)
class QueryEvent:
    """One statement as a collector observed it, with the session context it ran in."""

    text: str
    dialect: Dialect
    source: str = "explain"  # which collector/config source produced it
    location: str | None = None  # "file:line" for file collectors
    query_id: str | None = None
    session_id: str | None = None
    user: str | None = None
    time: datetime | None = None
    default_database: str | None = None
    default_schema: str | None = None
    search_path: tuple[str, ...] = ()
    calls: int = 1
    namespace: str | None = None  # platform namespace (postgres://host:port, snowflake://account)
    rows: int | None = None

    @property
    def where(self) -> str:
        """A human pointer to the statement: file:line, else query id, else source."""
        return self.location or (f"query {self.query_id}" if self.query_id else self.source)


@dataclass(frozen=True, slots=True)
class DatasetRef:
    """A dataset named the OpenLineage way: namespace + name (+ our kind).

    >>> DatasetRef("s3://bucket", "exports/users.csv", DatasetKind.S3).display
    's3://bucket/exports/users.csv'
    """

    namespace: str
    name: str
    kind: DatasetKind = DatasetKind.TABLE

    @property
    def display(self) -> str:
        if self.kind is DatasetKind.S3:
            return f"{self.namespace}/{self.name}"
        if self.kind is DatasetKind.STAGE:
            return f"@{self.name}"
        return self.name

    @property
    def id(self) -> str:
        """Stable identifier used as graph node id and in exports."""
        if self.kind is DatasetKind.S3:
            return self.display
        if self.kind is DatasetKind.STAGE:
            return f"{self.namespace}/@{self.name}"
        return f"{self.namespace}/{self.name}"


@dataclass(frozen=True, slots=True)
class ColumnRef:
    dataset: DatasetRef
    column: str

    @property
    def display(self) -> str:
        return f"{self.dataset.name}.{self.column}" if self.dataset.name else self.column


@dataclass(frozen=True, slots=True)
class ColumnEdge:
    """Target column ← source columns, with how the value got there."""

    target: ColumnRef
    sources: tuple[ColumnRef, ...]
    kind: EdgeKind = EdgeKind.DIRECT
    transform: str = "identity"  # identity | cast | transform | aggregate | positional | field


@dataclass(frozen=True, slots=True)
class Diagnostic:
    """A problem worth telling a user about, with a stable code.

    Codes are part of the contract (docs/diagnostics.md); messages are not.
    """

    code: str
    severity: Severity
    message: str
    where: str | None = None


@dataclass(frozen=True, slots=True)
class ReadFilter:
    """Narrows which files of a stage/S3 location a load reads (Snowflake PATTERN / FILES)."""

    dataset: DatasetRef
    pattern: str | None = None
    files: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Resolution:
    """What one statement reads and writes, column by column."""

    recognizer: str | None
    inputs: tuple[DatasetRef, ...] = ()
    outputs: tuple[DatasetRef, ...] = ()
    column_edges: tuple[ColumnEdge, ...] = ()
    confidence: float = 1.0
    diagnostics: tuple[Diagnostic, ...] = ()
    read_filters: tuple[ReadFilter, ...] = ()
    # Ordered field names of each written dataset when known (e.g. an export's projection).
    output_fields: tuple[tuple[DatasetRef, tuple[str, ...]], ...] = ()
    # Snowflake DDL that the graph needs: stage → URL, pipe → its COPY.
    stage_url: tuple[DatasetRef, str] | None = None
    pipe: str | None = None
    file_format: str | None = None  # csv | parquet | json | text … when the statement says
    temporary: bool = False  # outputs are session temp tables: inlined, never datasets

    @property
    def has_lineage(self) -> bool:
        return bool(self.inputs or self.outputs)

    def fields_of(self, dataset: DatasetRef) -> tuple[str, ...]:
        for ds, fields in self.output_fields:
            if ds == dataset:
                return fields
        return ()


@dataclass(slots=True)
class ResolutionStats:
    """Counts a run reports (mutable: accumulated while streaming)."""

    statements: int = 0
    resolved: int = 0
    cache_hits: int = 0
    failed: int = 0
    by_recognizer: dict[str, int] = field(default_factory=dict)
